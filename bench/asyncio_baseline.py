#!/usr/bin/env python3
"""The Python asyncio baselines of gather_bench: the same workloads as the
batchexec scenarios, run with asyncio.gather in one event loop.

Usage:
  asyncio_baseline.py noop --n 100000
  asyncio_baseline.py sleep --n 10000 --seconds 0.1
  asyncio_baseline.py sleep --n 1000 --seconds 0.01 --concurrency 100

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


async def run(args):
    # Created inside the loop: a Semaphore binds to the running loop.
    semaphore = asyncio.Semaphore(args.concurrency) if args.concurrency else None
    start = time.perf_counter()
    if args.scenario == "noop":
        await asyncio.gather(*(noop() for _ in range(args.n)))
    else:
        await asyncio.gather(
            *(sleep(args.seconds, semaphore) for _ in range(args.n)))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["noop", "sleep"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="asyncio.Semaphore size; 0 = unbounded")
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
