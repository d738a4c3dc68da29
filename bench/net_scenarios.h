// The network task kinds against Python asyncio doing the same work with the
// same concurrency limit, in the same run, against the same local C++
// targets (bench/local_targets.h): `http` vs aiohttp, `tcp_probe` vs
// asyncio.open_connection, `dns` vs loop.getaddrinfo, `grpc_health` vs
// grpc.aio (issues 13 and 14).
#ifndef BATCHEXEC_BENCH_NET_SCENARIOS_H_
#define BATCHEXEC_BENCH_NET_SCENARIOS_H_

#include "bench/scenarios.h"

namespace batchexec::bench {

void Http10k(BenchEnv& env);
void TcpProbe10k(BenchEnv& env);
void Dns10k(BenchEnv& env);
void GrpcHealth2k(BenchEnv& env);

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_NET_SCENARIOS_H_
