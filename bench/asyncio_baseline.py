#!/usr/bin/env python3
"""The Python asyncio baselines of gather_bench: the same workloads as the
batchexec scenarios, run with asyncio.gather in one event loop.

Usage:
  asyncio_baseline.py noop --n 100000
  asyncio_baseline.py sleep --n 10000 --seconds 0.1
  asyncio_baseline.py sleep --n 1000 --seconds 0.01 --concurrency 100
  asyncio_baseline.py http --n 10000 --url http://127.0.0.1:P/ok --concurrency 500
  asyncio_baseline.py tcp --n 10000 --host 127.0.0.1 --port P --concurrency 500
  asyncio_baseline.py dns --n 10000 --name localhost --concurrency 500

http uses aiohttp (Debian python3-aiohttp), one session whose connector
allows `concurrency` connections, reused as libcurl reuses them. dns uses
loop.getaddrinfo, which runs the blocking getaddrinfo on the loop's default
thread pool: asyncio has no asynchronous resolver of its own.

Prints one JSON line: scenario, n, seconds, concurrency, wall_s (from just
before the coroutines are created to gather's return) and tasks_per_s.
"""

import argparse
import asyncio
import json
import time


async def noop():
    pass


async def sleep(seconds, semaphore):
    if semaphore is None:
        await asyncio.sleep(seconds)
        return
    async with semaphore:
        await asyncio.sleep(seconds)


async def limited(semaphore, make):
    if semaphore is None:
        return await make()
    async with semaphore:
        return await make()


async def http_get(session, url):
    async with session.get(url) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status}")


async def tcp_connect(host, port):
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()


async def resolve(name):
    loop = asyncio.get_running_loop()
    if not await loop.getaddrinfo(name, None):
        raise RuntimeError(f"{name}: no addresses")


async def health_check(channel_check):
    # An empty HealthCheckRequest; SERVING is field 1 = 1 on the wire.
    reply = await channel_check(b"")
    if reply != b"\x08\x01":
        raise RuntimeError(f"not SERVING: {reply!r}")


async def run_network(args, semaphore):
    if args.scenario == "grpc_health":
        import grpc  # only this mode needs it (Debian's python3-grpcio)
        # Raw bytes in and out: no generated stubs needed for Health/Check.
        async with grpc.aio.insecure_channel(args.target) as channel:
            check = channel.unary_unary("/grpc.health.v1.Health/Check")
            start = time.perf_counter()
            await asyncio.gather(*(
                limited(semaphore, lambda: health_check(check))
                for _ in range(args.n)))
            return time.perf_counter() - start
    if args.scenario == "http":
        import aiohttp  # only this mode needs it
        connector = aiohttp.TCPConnector(limit=args.concurrency or 100)
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.perf_counter()
            await asyncio.gather(*(
                limited(semaphore, lambda: http_get(session, args.url))
                for _ in range(args.n)))
            return time.perf_counter() - start
    start = time.perf_counter()
    if args.scenario == "tcp":
        await asyncio.gather(*(
            limited(semaphore, lambda: tcp_connect(args.host, args.port))
            for _ in range(args.n)))
    else:
        await asyncio.gather(*(
            limited(semaphore, lambda: resolve(args.name))
            for _ in range(args.n)))
    return time.perf_counter() - start


async def run(args):
    # Created inside the loop: a Semaphore binds to the running loop.
    semaphore = asyncio.Semaphore(args.concurrency) if args.concurrency else None
    if args.scenario in ("http", "tcp", "dns", "grpc_health"):
        return await run_network(args, semaphore)
    start = time.perf_counter()
    if args.scenario == "noop":
        await asyncio.gather(*(noop() for _ in range(args.n)))
    else:
        await asyncio.gather(
            *(sleep(args.seconds, semaphore) for _ in range(args.n)))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["noop", "sleep", "http", "tcp", "dns",
                                             "grpc_health"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="asyncio.Semaphore size; 0 = unbounded")
    parser.add_argument("--url", default="")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="localhost")
    parser.add_argument("--target", default="", help="host:port (grpc_health)")
    args = parser.parse_args()
    wall = asyncio.run(run(args))
    print(json.dumps({
        "scenario": args.scenario,
        "n": args.n,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "wall_s": wall,
        "tasks_per_s": args.n / wall if wall > 0 else 0.0,
    }))


if __name__ == "__main__":
    main()
