#include "bench/scenarios.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/child_server.h"
#include "bench/cli_scenario.h"
#include "bench/closed_loop.h"
#include "bench/net_scenarios.h"
#include "bench/stats.h"
#include "client/client.h"
#include "client/task.h"
#include "client/task_output.h"
#include "common/arena_blocks.h"
#include "common/grpc_status.h"
#include "common/process_memory.h"
#include "common/proto_time.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"
#include "grpcpp/grpcpp.h"
#include "server/core/request_parser.h"
#include "server/tasks/kinds.h"

namespace batchexec::bench {
namespace {

using v1::ExecuteEvent;
using v1::ExecuteRequest;
using v1::GatherResponse;

// Generous: a figure that takes longer than this is broken, not slow.
constexpr absl::Duration kCallDeadline = absl::Minutes(10);

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
}

// Echo tasks carry a small argument so that the output is not empty.
v1::Task EchoTask(int i) {
  v1::Task task;
  task.set_kind("echo");
  (*task.mutable_args()->mutable_fields())["i"].set_number_value(i);
  return task;
}

v1::Task SleepTask(double seconds) {
  v1::Task task;
  task.set_kind("sleep");
  (*task.mutable_args()->mutable_fields())["seconds"].set_number_value(seconds);
  return task;
}

ExecuteRequest MakeBatch(int n, const std::function<v1::Task(int)>& make,
                         uint32_t max_concurrency = 0) {
  ExecuteRequest request;
  request.mutable_tasks()->Reserve(n);
  for (int i = 0; i < n; ++i) *request.add_tasks() = make(i);
  request.set_max_concurrency(max_concurrency);
  return request;
}

// OK only if the call and every task succeeded: a failed run's timing means
// nothing, so it is reported as a failure instead.
absl::Status CheckGather(const grpc::Status& status,
                         const ExecuteRequest& request,
                         const GatherResponse& response) {
  if (!status.ok()) return FromGrpcStatus(status);
  const int n = request.tasks_size();
  if (response.results_size() != n ||
      response.summary().succeeded() != static_cast<uint32_t>(n)) {
    return absl::InternalError(absl::StrCat(
        response.summary().succeeded(), " of ", n,
        " tasks succeeded: ", response.summary().outcome().message()));
  }
  return absl::OkStatus();
}

// A Gather response parsed onto an arena, as a C++ client of big batches
// should: a few blocks instead of several allocations per result.
struct GatherReply {
  google::protobuf::Arena arena;
  GatherResponse* response =
      google::protobuf::Arena::CreateMessage<GatherResponse>(&arena);
};

// `out` (optional) keeps the response, e.g. for the server's own timings
// (Summary.wall_time, TaskResult.started_after / finished_after).
absl::StatusOr<absl::Duration> TimedGather(v1::BatchExecutor::Stub& stub,
                                           const ExecuteRequest& request,
                                           GatherReply* out = nullptr) {
  GatherReply own;
  GatherReply& reply = out != nullptr ? *out : own;
  grpc::ClientContext context;
  SetDeadline(context);
  const absl::Time start = absl::Now();
  grpc::Status status = stub.Gather(&context, request, reply.response);
  const absl::Duration wall = absl::Now() - start;
  if (absl::Status s = CheckGather(status, request, *reply.response); !s.ok()) {
    return s;
  }
  return wall;
}

// The protobuf work every Gather of this batch needs whatever the server
// does, timed here with no server and no transport: serialize the request,
// parse it onto an arena (as the server does), serialize the response, parse
// it onto an arena (as TimedGather does). One thread, median of `runs`, after
// a run that warms the buffers: the arenas take their blocks from the cache
// the server and the SDK use, and the wire strings keep their capacity, so
// page faults on fresh memory (costly on a freshly booted machine) do not
// slow this floor down where the server and the SDK avoid them.
// One run of ProtobufFloor's work, in milliseconds; the wire strings are
// the caller's, kept warm across runs.
double ProtobufOnceMs(const ExecuteRequest& request,
                      const GatherResponse& response, std::string& request_wire,
                      std::string& response_wire) {
  const absl::Time start = absl::Now();
  {
    google::protobuf::Arena arena(CachedArenaOptions());
    request.SerializeToString(&request_wire);
    google::protobuf::Arena::CreateMessage<ExecuteRequest>(&arena)
        ->ParseFromString(request_wire);
  }
  {
    google::protobuf::Arena arena(CachedArenaOptions());
    response.SerializeToString(&response_wire);
    google::protobuf::Arena::CreateMessage<GatherResponse>(&arena)
        ->ParseFromString(response_wire);
  }
  return absl::ToDoubleMilliseconds(absl::Now() - start);
}

absl::Duration ProtobufFloor(const ExecuteRequest& request,
                             const GatherResponse& response, int runs) {
  std::vector<double> ms;
  std::string request_wire, response_wire;
  for (int i = -1; i < runs; ++i) {
    const double run =
        ProtobufOnceMs(request, response, request_wire, response_wire);
    if (i >= 0) ms.push_back(run);
  }
  return absl::Milliseconds(Median(ms));
}

// A lower bound on the work of any SDK Gather of this echo batch (any server,
// any client of this contract and API), on one thread, with no transport,
// scheduling, bookkeeping or freeing: the caller's tasks serialized straight
// into request bytes; the request parsed onto an arena; a response built on
// that arena, each output swapped in from its task's args (no copy), and
// serialized; the response parsed and every result handed out as the
// TaskOutput Client::Gather returns, by the cheaper of two ways (parsed onto
// an arena, outputs copied off it; or parsed onto the heap, outputs moved
// out). Every buffer is warm, as in ProtobufFloor. Each run also times
// ProtobufFloor's work right before, so that the two medians come from the
// same moments of a machine whose speed drifts.
struct EchoFloors {
  absl::Duration protobuf;  // ProtobufFloor's work
  absl::Duration sdk;       // the least work of any SDK
};
absl::StatusOr<EchoFloors> SdkEchoFloor(const ExecuteRequest& request,
                                        const GatherResponse& response,
                                        int runs) {
  std::vector<Task> tasks;
  tasks.reserve(request.tasks_size());
  for (const v1::Task& t : request.tasks()) tasks.emplace_back(t);
  std::vector<TaskOutput> outputs;
  outputs.reserve(tasks.size());
  std::string request_wire, response_wire, pb_request, pb_response;
  auto hand_out = [&outputs](GatherResponse& response) {
    outputs.clear();
    for (int r = 0; r < response.results_size(); ++r) {
      auto out = ToTaskOutput(std::move(*response.mutable_results(r)), r);
      if (out.ok()) outputs.push_back(*std::move(out));
    }
  };
  std::vector<double> ms, pb_ms;
  for (int i = -1; i < runs; ++i) {
    const double pb =
        ProtobufOnceMs(request, response, pb_request, pb_response);
    const absl::Time start = absl::Now();
    request_wire.clear();
    for (const Task& t : tasks) {
      // Field 1 (tasks), length-delimited: tag, size, bytes.
      const size_t size = t.proto().ByteSizeLong();
      const size_t at = request_wire.size();
      request_wire.resize(at + 1 + 5 + size);
      uint8_t* p = reinterpret_cast<uint8_t*>(&request_wire[at]);
      *p++ = 0x0a;
      p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
          static_cast<uint32_t>(size), p);
      p = t.proto().SerializeWithCachedSizesToArray(p);
      request_wire.resize(p - reinterpret_cast<uint8_t*>(&request_wire[0]));
    }
    {
      google::protobuf::Arena arena(CachedArenaOptions());
      auto* parsed =
          google::protobuf::Arena::CreateMessage<ExecuteRequest>(&arena);
      parsed->ParseFromString(request_wire);
      auto* reply =
          google::protobuf::Arena::CreateMessage<GatherResponse>(&arena);
      reply->mutable_results()->Reserve(parsed->tasks_size());
      for (int t = 0; t < parsed->tasks_size(); ++t) {
        v1::TaskResult* result = reply->add_results();
        result->set_index(static_cast<uint32_t>(t));
        result->mutable_output()->mutable_struct_value()->Swap(
            parsed->mutable_tasks(t)->mutable_args());
        result->mutable_started_after()->set_nanos(1000);
        result->mutable_finished_after()->set_nanos(2000);
        result->set_attempts(1);
      }
      reply->SerializeToString(&response_wire);
    }
    const absl::Duration before_hand_out = absl::Now() - start;
    absl::Duration on_arena, on_heap;
    {
      const absl::Time t0 = absl::Now();
      google::protobuf::Arena arena(CachedArenaOptions());
      auto* parsed =
          google::protobuf::Arena::CreateMessage<GatherResponse>(&arena);
      parsed->ParseFromString(response_wire);
      hand_out(*parsed);
      on_arena = absl::Now() - t0;
    }
    {
      GatherResponse parsed;
      const absl::Time t0 = absl::Now();
      parsed.ParseFromString(response_wire);
      hand_out(parsed);
      on_heap = absl::Now() - t0;
    }
    // A floor that lost outputs on the way would be no floor.
    if (outputs.size() != tasks.size() ||
        !outputs.back().output.struct_value().fields().contains("i")) {
      return absl::InternalError("the SDK floor lost outputs");
    }
    if (i >= 0) {
      ms.push_back(absl::ToDoubleMilliseconds(before_hand_out +
                                              std::min(on_arena, on_heap)));
      pb_ms.push_back(pb);
    }
  }
  return EchoFloors{absl::Milliseconds(Median(pb_ms)),
                    absl::Milliseconds(Median(ms))};
}

double Millis(const google::protobuf::Duration& d) {
  return absl::ToDoubleMilliseconds(FromProtoDuration(d));
}

absl::StatusOr<absl::Duration> TimedEcho(BareEcho::Stub& stub,
                                         const EchoMessage& request) {
  EchoMessage response;
  grpc::ClientContext context;
  SetDeadline(context);
  const absl::Time start = absl::Now();
  grpc::Status status = stub.Echo(&context, request, &response);
  const absl::Duration wall = absl::Now() - start;
  if (!status.ok()) return FromGrpcStatus(status);
  return wall;
}

// Reports a scenario that could not be measured, instead of a number.
void Failed(BenchEnv& env, const std::string& scenario, const std::string& key,
            const absl::Status& why) {
  env.report->AddRow({scenario, absl::StrCat("FAILED: ", why.ToString()), "",
                      "", "", Met::kNo});
  env.report->AddFigure(key, "failed");
}

std::optional<AsyncioResult> Asyncio(BenchEnv& env, const std::string& args) {
  if (env.asyncio == nullptr || !env.baselines) return std::nullopt;
  return env.asyncio->Run(args);
}

std::string Us(double us) { return absl::StrCat(Fixed(us, 0), " µs"); }
std::string Ms(double ms) { return absl::StrCat(Fixed(ms, 1), " ms"); }
std::string Times(double ratio) { return absl::StrCat(Fixed(ratio), "×"); }

// 1. One-task batch vs a bare unary RPC: the fixed cost of a batch.
void OneTaskLatency(BenchEnv& env) {
  const std::string scenario = "1-task echo batch, sequential calls";
  const int samples = env.quick ? 2000 : 20000;
  constexpr int kWarmup = 200;
  // Blocks alternate so that drift (another process taking a core for a
  // while) hits both series alike.
  constexpr int kBlock = 100;
  const ExecuteRequest request = MakeBatch(1, EchoTask);
  EchoMessage echo;
  echo.set_payload(request.SerializeAsString());  // same bytes on the wire

  std::vector<double> batch_us, bare_us;
  for (int done = -kWarmup; done < samples; done += kBlock) {
    for (int i = 0; i < kBlock; ++i) {
      auto bare = TimedEcho(*env.bare, echo);
      if (!bare.ok()) {
        return Failed(env, scenario, "echo1_p50_us", bare.status());
      }
      if (done >= 0) bare_us.push_back(absl::ToDoubleMicroseconds(*bare));
    }
    for (int i = 0; i < kBlock; ++i) {
      auto batch = TimedGather(*env.batch, request);
      if (!batch.ok()) {
        return Failed(env, scenario, "echo1_p50_us", batch.status());
      }
      if (done >= 0) batch_us.push_back(absl::ToDoubleMicroseconds(*batch));
    }
  }
  const LatencySummary batch = Summarize(std::move(batch_us));
  const LatencySummary bare = Summarize(std::move(bare_us));
  const double ratio = batch.p50 / bare.p50;
  env.report->AddRow(
      {absl::StrCat(scenario, " (", samples, " calls each)"),
       absl::StrCat("p50 ", Us(batch.p50), ", p99 ", Us(batch.p99)),
       absl::StrCat("bare unary echo: p50 ", Us(bare.p50), ", p99 ",
                    Us(bare.p99)),
       absl::StrCat(Times(ratio), " (p99 ", Times(batch.p99 / bare.p99), ")"),
       "p50 ≤ 1.3× bare", Check(ratio, 1.3)});
  env.report->AddFigure("echo1_p50_us", batch.p50);
  env.report->AddFigure("echo1_p99_us", batch.p99);
  env.report->AddFigure("bare_p50_us", bare.p50);
  env.report->AddFigure("bare_p99_us", bare.p99);
  env.report->AddFigure("echo1_p50_ratio", ratio);
}

// `calls` unary echo RPCs with `lanes` in flight on the callback client API;
// returns RPCs per second.
absl::StatusOr<double> UnaryRpcRate(BareEcho::Stub& stub, int calls,
                                    int lanes) {
  struct Call {
    grpc::ClientContext context;
    EchoMessage request;
    EchoMessage response;
  };
  const std::string payload = EchoTask(0).SerializeAsString();
  std::atomic<int> failures{0};
  const absl::Time start = absl::Now();
  RunClosedLoop(lanes, calls, [&](int, std::function<void()> done) {
    auto call = std::make_shared<Call>();
    SetDeadline(call->context);
    call->request.set_payload(payload);
    stub.async()->Echo(
        &call->context, &call->request, &call->response,
        [call, done = std::move(done), &failures](grpc::Status s) {
          if (!s.ok()) failures.fetch_add(1);
          done();
        });
  });
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (failures > 0) {
    return absl::InternalError(absl::StrCat(failures.load(), " RPCs failed"));
  }
  return calls / seconds;
}

// CPU time of this process so far, every thread, user and system.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The CPU (every thread of this process: client and in-process servers) of
// moving `request`'s bytes and then `response`'s through gRPC once each way,
// the least any transport of this contract costs: half of a bare echo RPC of
// each. Median of `runs`.
absl::StatusOr<double> TransportCpuSeconds(BareEcho::Stub& stub,
                                           const ExecuteRequest& request,
                                           const GatherResponse& response,
                                           int runs) {
  // In pieces under the 4 MiB message limit, as the Execute stream sends
  // a response this size.
  constexpr size_t kPiece = 2 << 20;
  std::vector<EchoMessage> pieces;
  for (const std::string& wire :
       {request.SerializeAsString(), response.SerializeAsString()}) {
    for (size_t at = 0; at < wire.size(); at += kPiece) {
      pieces.emplace_back().set_payload(wire.substr(at, kPiece));
    }
  }
  std::vector<double> seconds;
  for (int i = -1; i < runs; ++i) {
    const double before = ProcessCpuSeconds();
    for (const EchoMessage& piece : pieces) {
      if (auto wall = TimedEcho(stub, piece); !wall.ok()) return wall.status();
    }
    if (i >= 0) seconds.push_back((ProcessCpuSeconds() - before) / 2);
  }
  return Median(seconds);
}

// 2. Throughput of one big Gather of instant tasks, end to end.
void HundredThousandEcho(BenchEnv& env) {
  const std::string scenario = "100k echo tasks, one Gather";
  constexpr int kTasks = 100'000;
  const int runs = env.quick ? 3 : 5;
  const ExecuteRequest request = MakeBatch(kTasks, EchoTask);
  std::vector<double> rates, batch_ms;
  std::unique_ptr<GatherReply> reply;  // of the last run
  for (int i = 0; i < runs; ++i) {
    reply = std::make_unique<GatherReply>();
    auto wall = TimedGather(*env.batch, request, reply.get());
    if (!wall.ok()) {
      return Failed(env, scenario, "echo100k_tasks_per_s", wall.status());
    }
    rates.push_back(kTasks / absl::ToDoubleSeconds(*wall));
    batch_ms.push_back(Millis(reply->response->summary().wall_time()));
  }
  const double rate = Median(rates);
  const double server_ms = Median(batch_ms);
  const std::string figure =
      absl::StrCat(Human(rate), " tasks/s (", Ms(kTasks / rate * 1e3),
                   " end to end, of which ", Ms(server_ms),
                   " from admission to last result; median of ", runs, ")");
  env.report->AddFigure("echo100k_tasks_per_s", rate);
  env.report->AddFigure("echo100k_round_trip_ms", kTasks / rate * 1e3);
  env.report->AddFigure("echo100k_batch_wall_ms", server_ms);
  // Rows after the first compare the same figure with another baseline.
  const std::string same = absl::StrCat(Human(rate), " tasks/s");
  env.report->AddRow({scenario, figure, "", "", "≥ 1,000,000 tasks/s",
                      Check(rate, 1e6, /*at_least=*/true)});

  if (auto py = Asyncio(env, absl::StrCat("noop --n ", kTasks))) {
    const double ratio = rate / py->tasks_per_s;
    env.report->AddRow(
        {scenario, same,
         absl::StrCat("asyncio.gather of 100k no-op coroutines: ",
                      Human(py->tasks_per_s), " tasks/s"),
         Times(ratio), "≥ 6× asyncio", Check(ratio, 6, /*at_least=*/true)});
    env.report->AddFigure("asyncio_noop100k_tasks_per_s", py->tasks_per_s);
    env.report->AddFigure("echo100k_vs_asyncio", ratio);
  } else {
    env.report->AddRow({scenario, same, "asyncio: n/a", "", "≥ 6× asyncio",
                        Met::kNotApplicable});
  }

  // What protobuf alone costs for these messages: the ceiling on tasks/s of
  // any server speaking this contract from this client, on one core.
  // Floors are cheap: more runs steady their medians.
  const absl::StatusOr<EchoFloors> floors =
      SdkEchoFloor(request, *reply->response, 3 * runs);
  if (!floors.ok()) {
    return Failed(env, scenario, "echo100k_protobuf_ms", floors.status());
  }
  const absl::Duration pb = floors->protobuf;
  const double pb_rate = kTasks / absl::ToDoubleSeconds(pb);
  env.report->AddRow(
      {scenario, same,
       absl::StrCat("protobuf alone, no server: serialize + parse the request "
                    "and the response, ",
                    Ms(absl::ToDoubleMilliseconds(pb)), " = ", Human(pb_rate),
                    " tasks/s"),
       absl::StrCat(Times(rate / pb_rate), " its rate"), "",
       Met::kNotApplicable});
  env.report->AddFigure("echo100k_protobuf_ms", absl::ToDoubleMilliseconds(pb));
  env.report->AddFigure("echo100k_sdk_floor_ms",
                        absl::ToDoubleMilliseconds(floors->sdk));

  // The same batch as an SDK user runs it: Client::Gather streams it over
  // Execute and hands back every output in order.
  {
    Client client(env.channel);
    std::vector<double> sdk_rates;
    const double cpu_before = ProcessCpuSeconds();
    for (int i = 0; i < runs; ++i) {
      std::vector<Task> tasks;
      tasks.reserve(kTasks);
      for (const v1::Task& t : request.tasks()) tasks.emplace_back(t);
      const absl::Time start = absl::Now();
      auto outputs = client.Gather(std::move(tasks));
      const absl::Duration wall = absl::Now() - start;
      if (!outputs.ok() || outputs->size() != kTasks) {
        return Failed(env, scenario, "echo100k_sdk_tasks_per_s",
                      outputs.ok() ? absl::InternalError("results missing")
                                   : outputs.status());
      }
      sdk_rates.push_back(kTasks / absl::ToDoubleSeconds(wall));
    }
    const double sdk_rate = Median(sdk_rates);
    env.report->AddRow(
        {scenario, same,
         absl::StrCat("the same through the C++ SDK (Client::Gather: Execute "
                      "stream, outputs converted): ",
                      Human(sdk_rate), " tasks/s"),
         absl::StrCat(Times(rate / sdk_rate), " the SDK's rate"), "",
         Met::kNotApplicable});
    env.report->AddFigure("echo100k_sdk_tasks_per_s", sdk_rate);

    // Overlapping work across cores can at best keep every core busy: the
    // CPU one task costs (client and in-process server together, every
    // thread) caps the rate at cores / cpu-per-task, however it is spread.
    if (env.server != nullptr) {
      const double cpu_per_task =
          (ProcessCpuSeconds() - cpu_before) / (double{kTasks} * runs);
      const unsigned cores = std::thread::hardware_concurrency();
      const double ceiling = cores / cpu_per_task;
      // No SDK of this contract, however its work is spread over the cores,
      // does less than SdkEchoFloor's work and the bytes' transport.
      auto transport =
          TransportCpuSeconds(*env.bare, request, *reply->response, 3 * runs);
      if (!transport.ok()) {
        return Failed(env, scenario, "echo100k_sdk_floor_ms",
                      transport.status());
      }
      const double floor_us =
          (absl::ToDoubleMicroseconds(floors->sdk) + *transport * 1e6) / kTasks;
      const double any_sdk_ceiling = cores / floor_us * 1e6;
      // Met only if both hold: 1M tasks/s, and 1.3× protobuf alone.
      const double target_share =
          std::min(sdk_rate / 1e6, sdk_rate / (1.3 * pb_rate));
      env.report->AddRow(
          {scenario, absl::StrCat(Human(sdk_rate), " tasks/s via the SDK"),
           absl::StrCat(
               "CPU per task in those runs (client + in-process server, "
               "every thread): ",
               Fixed(cpu_per_task * 1e6), " µs, so ", cores,
               " cores always busy allow at most ", Human(ceiling),
               " tasks/s. Least work of any SDK of this contract (protobuf, "
               "outputs handed out, bytes through gRPC; no scheduling): ",
               Fixed(floor_us), " µs per task (transport ",
               Fixed(*transport * 1e6 / kTasks), "), so at most ",
               Human(any_sdk_ceiling),
               " tasks/s = ", Times(any_sdk_ceiling / pb_rate),
               " protobuf alone (", Fixed(1e6 / pb_rate), " µs)"),
           absl::StrCat(Times(sdk_rate / ceiling), " its own ceiling, ",
                        Times(sdk_rate / pb_rate), " protobuf alone"),
           "SDK ≥ 1,000,000 tasks/s and ≥ 1.3× protobuf alone",
           Check(target_share, 1, /*at_least=*/true)});
      env.report->AddFigure("echo100k_sdk_cpu_us_per_task", cpu_per_task * 1e6);
      env.report->AddFigure("echo100k_sdk_cpu_ceiling_tasks_per_s", ceiling);
      env.report->AddFigure("echo100k_any_sdk_ceiling_tasks_per_s",
                            any_sdk_ceiling);
      env.report->AddFigure("echo100k_any_sdk_ceiling_vs_protobuf",
                            any_sdk_ceiling / pb_rate);
    }
  }

  // The floor of any one-call design: the same request bytes through a bare
  // RPC and back, with no parsing beyond one bytes field.
  EchoMessage envelope;
  envelope.set_payload(request.SerializeAsString());
  std::vector<double> floor_ms;
  for (int i = 0; i < runs; ++i) {
    auto wall = TimedEcho(*env.bare, envelope);
    if (!wall.ok()) return Failed(env, scenario, "bare_2way_ms", wall.status());
    floor_ms.push_back(absl::ToDoubleMilliseconds(*wall));
  }
  const double floor = Median(floor_ms);
  env.report->AddRow(
      {scenario, same,
       absl::StrCat("one bare echo RPC carrying the request's ",
                    Fixed(envelope.payload().size() / 1048576.0, 1),
                    " MiB each way: ", Ms(floor)),
       absl::StrCat(Times(kTasks / rate * 1e3 / floor), " its time"), "",
       Met::kNotApplicable});
  env.report->AddFigure("bare_2way_ms", floor);

  if (!env.baselines) return;
  constexpr int kLanes = 64;
  auto rpc_rate = UnaryRpcRate(*env.bare, kTasks, kLanes);
  if (!rpc_rate.ok()) {
    return Failed(env, scenario, "unary100k_rpcs_per_s", rpc_rate.status());
  }
  const double ratio = rate / *rpc_rate;
  env.report->AddRow(
      {scenario, same,
       absl::StrCat("100k unary echo RPCs, 64 in flight (callback client): ",
                    Human(*rpc_rate), " RPCs/s"),
       Times(ratio), "", Met::kNotApplicable});
  env.report->AddFigure("unary100k_rpcs_per_s", *rpc_rate);
  env.report->AddFigure("echo100k_vs_unary", ratio);
}

struct SleepCase {
  const char* key;
  const char* label;
  int tasks;
  double seconds;
  int max_concurrency;  // 0: unbounded
  double target;        // wall / ideal
  bool sdk = false;     // also through Client::Gather, beside raw Gather
};

// The same sleep batch as an SDK user runs it: Client::Gather streams it
// over Execute and converts every output; the tasks are built beforehand,
// as the raw Gather's request is. Its row sits beside the raw Gather's, with
// the same run's raw figure and protobuf floor.
void SdkSleepBatch(BenchEnv& env, const SleepCase& c,
                   const ExecuteRequest& request, double ideal,
                   double raw_ratio, double floor_ratio) {
  const std::string label = absl::StrCat(c.label, ", through the SDK");
  const std::string key = absl::StrCat("sdk_", c.key, "_wall_ratio");
  const int runs = env.quick ? 1 : 3;
  Client client(env.channel);
  std::vector<double> walls;
  for (int i = 0; i < runs; ++i) {
    std::vector<Task> tasks;
    tasks.reserve(request.tasks_size());
    for (const v1::Task& t : request.tasks()) tasks.emplace_back(t);
    const absl::Time start = absl::Now();
    auto outputs = client.Gather(std::move(tasks));
    const absl::Duration wall = absl::Now() - start;
    if (!outputs.ok() ||
        outputs->size() != static_cast<size_t>(request.tasks_size())) {
      return Failed(env, label, key,
                    outputs.ok() ? absl::InternalError("results missing")
                                 : outputs.status());
    }
    walls.push_back(absl::ToDoubleSeconds(wall));
  }
  const double wall = Median(walls);
  const double ratio = wall / ideal;
  env.report->AddRow(
      {label,
       absl::StrCat("wall/ideal ", Fixed(ratio, 3), " (", Ms(wall * 1e3),
                    runs > 1 ? absl::StrCat(", median of ", runs) : "", ")"),
       absl::StrCat("raw Gather, same batch and run: wall/ideal ",
                    Fixed(raw_ratio, 3), "; protobuf floor ",
                    Fixed(floor_ratio, 3)),
       absl::StrCat(Fixed(ratio / raw_ratio, 2), "× raw Gather's"),
       absl::StrCat("≤ ", Fixed(c.target)), Check(ratio, c.target)});
  env.report->AddFigure(absl::StrCat("sdk_", c.key, "_wall_s"), wall);
  env.report->AddFigure(key, ratio);
}

// 3-5. Timer-bound batches: how close the wall time comes to the ideal.
void SleepBatch(BenchEnv& env, const SleepCase& c) {
  const int runs = env.quick ? 1 : 3;
  const int width = c.max_concurrency > 0 ? c.max_concurrency : c.tasks;
  const double ideal =
      std::ceil(static_cast<double>(c.tasks) / width) * c.seconds;
  const ExecuteRequest request = MakeBatch(
      c.tasks, [&](int) { return SleepTask(c.seconds); }, c.max_concurrency);
  std::vector<double> walls;
  std::unique_ptr<GatherReply> reply;  // of the last run, for its timings
  for (int i = 0; i < runs; ++i) {
    reply = std::make_unique<GatherReply>();
    auto wall = TimedGather(*env.batch, request, reply.get());
    if (!wall.ok()) {
      return Failed(env, c.label, absl::StrCat(c.key, "_wall_ratio"),
                    wall.status());
    }
    walls.push_back(absl::ToDoubleSeconds(*wall));
  }
  const double wall = Median(walls);
  const double ratio = wall / ideal;
  const GatherResponse& response = *reply->response;
  // Where the time beyond the ideal went, by the server's own clock: the
  // last task's start (admission) and how late timers ended the tasks.
  double last_start_ms = 0;
  std::vector<double> late_ms;
  late_ms.reserve(response.results_size());
  for (const v1::TaskResult& r : response.results()) {
    const double started = Millis(r.started_after());
    last_start_ms = std::max(last_start_ms, started);
    late_ms.push_back(Millis(r.finished_after()) - started - c.seconds * 1e3);
  }
  const LatencySummary late = Summarize(std::move(late_ms));
  const double server_ms = Millis(response.summary().wall_time());
  // The best wall/ideal this contract allows from this client: the ideal
  // plus protobuf's own work on the request and response.
  const double pb_ms =
      absl::ToDoubleMilliseconds(ProtobufFloor(request, response, 3));
  const double floor_ratio = (ideal * 1e3 + pb_ms) / (ideal * 1e3);
  const std::string figure = absl::StrCat(
      "wall/ideal ", Fixed(ratio, 3), " (", Ms(wall * 1e3), " vs ",
      Ms(ideal * 1e3), runs > 1 ? absl::StrCat(", median of ", runs) : "",
      "; server: last task started at ", Ms(last_start_ms),
      ", tasks ended late by p50 ", Ms(late.p50), " / max ", Ms(late.max),
      ", batch done at ", Ms(server_ms), "; protobuf alone ", Ms(pb_ms),
      ", so wall/ideal ≥ ", Fixed(floor_ratio, 3), " for any server)");
  env.report->AddFigure(absl::StrCat(c.key, "_wall_s"), wall);
  env.report->AddFigure(absl::StrCat(c.key, "_protobuf_ms"), pb_ms);
  env.report->AddFigure(absl::StrCat(c.key, "_floor_ratio"), floor_ratio);
  env.report->AddFigure(absl::StrCat(c.key, "_wall_ratio"), ratio);
  env.report->AddFigure(absl::StrCat(c.key, "_last_start_ms"), last_start_ms);
  env.report->AddFigure(absl::StrCat(c.key, "_late_p50_ms"), late.p50);
  env.report->AddFigure(absl::StrCat(c.key, "_late_max_ms"), late.max);
  env.report->AddFigure(absl::StrCat(c.key, "_server_wall_ms"), server_ms);

  std::string baseline = "asyncio: n/a";
  std::string vs;
  std::string args =
      absl::StrCat("sleep --n ", c.tasks, " --seconds ", c.seconds);
  if (c.max_concurrency > 0) {
    absl::StrAppend(&args, " --concurrency ", c.max_concurrency);
  }
  if (auto py = Asyncio(env, args)) {
    const double py_ratio = py->wall_s / ideal;
    baseline =
        absl::StrCat("asyncio.gather",
                     c.max_concurrency > 0
                         ? absl::StrCat(" + Semaphore(", c.max_concurrency, ")")
                         : "",
                     ": wall/ideal ", Fixed(py_ratio, 3));
    vs = absl::StrCat(Fixed(ratio / py_ratio, 2), "× asyncio's");
    env.report->AddFigure(absl::StrCat("asyncio_", c.key, "_wall_ratio"),
                          py_ratio);
  }
  env.report->AddRow({c.label, figure, baseline, vs,
                      absl::StrCat("≤ ", Fixed(c.target)),
                      Check(ratio, c.target)});
  if (c.sdk) SdkSleepBatch(env, c, request, ideal, ratio, floor_ratio);
}

void Sleep10k(BenchEnv& env) {
  SleepBatch(env, {"sleep10k", "10k × 0.1 s sleep, unbounded", 10'000, 0.1, 0,
                   1.10, /*sdk=*/true});
}
void Sleep100k(BenchEnv& env) {
  SleepBatch(env, {"sleep100k", "100k × 0.1 s sleep, unbounded", 100'000, 0.1,
                   0, 1.5, /*sdk=*/true});
}
void SleepBounded(BenchEnv& env) {
  SleepBatch(env, {"sleep1k_c100", "1000 × 10 ms sleep, max_concurrency 100",
                   1000, 0.01, 100, 1.05});
}

// 6. Many callers at once: aggregate throughput and per-batch latency.
void ConcurrentCallers(BenchEnv& env) {
  constexpr int kCallers = 64;
  constexpr int kTasks = 1000;
  const int per_caller = env.quick ? 5 : 20;
  const int calls = kCallers * per_caller;
  const std::string scenario = absl::StrCat(
      "64 concurrent callers × 1000 echo (", per_caller, " batches each)");
  const ExecuteRequest request = MakeBatch(kTasks, EchoTask);
  struct Call {
    grpc::ClientContext context;
    GatherResponse response;
    absl::Time start;
  };
  absl::Mutex mu;
  std::vector<double> latencies_ms;  // guarded by mu
  absl::Status error;                // guarded by mu
  const absl::Time start = absl::Now();
  RunClosedLoop(kCallers, calls, [&](int, std::function<void()> done) {
    auto call = std::make_shared<Call>();
    SetDeadline(call->context);
    call->start = absl::Now();
    env.batch->async()->Gather(
        &call->context, &request, &call->response,
        [call, done = std::move(done), &mu, &latencies_ms, &error,
         &request](grpc::Status s) {
          const double ms =
              absl::ToDoubleMilliseconds(absl::Now() - call->start);
          absl::Status checked = CheckGather(s, request, call->response);
          {
            absl::MutexLock lock(&mu);
            latencies_ms.push_back(ms);
            if (!checked.ok() && error.ok()) error = checked;
          }
          done();
        });
  });
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!error.ok()) return Failed(env, scenario, "callers64_tasks_per_s", error);
  const double rate = static_cast<double>(calls) * kTasks / seconds;
  const LatencySummary latency = Summarize(std::move(latencies_ms));
  env.report->AddRow(
      {scenario,
       absl::StrCat(Human(rate), " tasks/s aggregate; per batch p50 ",
                    Ms(latency.p50), ", p99 ", Ms(latency.p99)),
       "", "", "", Met::kNotApplicable});
  env.report->AddFigure("callers64_tasks_per_s", rate);
  env.report->AddFigure("callers64_batch_p50_ms", latency.p50);
  env.report->AddFigure("callers64_batch_p99_ms", latency.p99);
}

// 7. Fairness: a tiny batch's latency while a huge one runs.
void SmallBatchUnderLoad(BenchEnv& env) {
  const int big_tasks = env.quick ? 200'000 : 1'000'000;
  const std::string scenario = absl::StrCat(
      "3-task batch while a ", Count(big_tasks), "-task echo batch runs",
      env.quick ? " (quick: 200k, full: 1M)" : "");
  const int alone_samples = env.quick ? 200 : 1000;
  const ExecuteRequest small = MakeBatch(3, EchoTask);
  const ExecuteRequest big = MakeBatch(big_tasks, EchoTask);

  std::vector<double> alone_us;
  for (int i = -20; i < alone_samples; ++i) {  // 20 warm-up calls
    auto wall = TimedGather(*env.batch, small);
    if (!wall.ok()) {
      return Failed(env, scenario, "small_loaded_ratio", wall.status());
    }
    if (i >= 0) alone_us.push_back(absl::ToDoubleMicroseconds(*wall));
  }

  grpc::ClientContext big_context;
  SetDeadline(big_context);
  GatherResponse big_response;
  grpc::Status big_status;
  absl::Duration big_wall;
  absl::Notification big_done;
  const absl::Time big_start = absl::Now();
  env.batch->async()->Gather(&big_context, &big, &big_response,
                             [&](grpc::Status s) {
                               big_wall = absl::Now() - big_start;
                               big_status = std::move(s);
                               big_done.Notify();
                             });
  // Back-to-back small batches for as long as the big call lasts. In
  // process, the ones that start while the big batch still has tasks waiting
  // for the executor are the figure: the rest of the call is transport and
  // (de)serialization, where the executor is idle.
  std::vector<double> all_us, executing_us;
  absl::Status probe_error;
  while (!big_done.HasBeenNotified()) {
    const bool executing = env.server != nullptr &&
                           env.server->executor().Stats().queued_tasks() > 0;
    auto wall = TimedGather(*env.batch, small);
    if (!wall.ok()) {
      probe_error = wall.status();
      break;
    }
    all_us.push_back(absl::ToDoubleMicroseconds(*wall));
    if (executing) executing_us.push_back(all_us.back());
  }
  big_done.WaitForNotification();
  if (!probe_error.ok()) {
    return Failed(env, scenario, "small_loaded_ratio", probe_error);
  }
  if (absl::Status s = CheckGather(big_status, big, big_response); !s.ok()) {
    return Failed(
        env, scenario, "small_loaded_ratio",
        absl::Status(s.code(), absl::StrCat("big batch: ", s.message())));
  }
  const bool in_process = env.server != nullptr;
  const LatencySummary alone = Summarize(std::move(alone_us));
  const LatencySummary whole_call = Summarize(std::move(all_us));
  const LatencySummary loaded =
      in_process ? Summarize(std::move(executing_us)) : whole_call;
  const double ratio = loaded.p50 / alone.p50;
  env.report->AddRow(
      {scenario,
       absl::StrCat(
           "p50 ", Us(loaded.p50), ", p99 ", Us(loaded.p99), " (", loaded.count,
           in_process ? " batches while the big one had tasks queued; over its"
                        " whole call: p50 "
                      : " batches during the big call; ",
           in_process ? absl::StrCat(Us(whole_call.p50), ", p99 ",
                                     Us(whole_call.p99), ", ")
                      : "",
           "big call ", Ms(absl::ToDoubleMilliseconds(big_wall)), ")"),
       absl::StrCat("the same alone: p50 ", Us(alone.p50), ", p99 ",
                    Us(alone.p99)),
       absl::StrCat(Times(ratio), " (p99 ", Times(loaded.p99 / alone.p99), ")"),
       "p50 ≤ 2× alone", Check(ratio, 2)});
  env.report->AddFigure("big_batch_tasks", big_tasks);
  env.report->AddFigure("big_batch_s", absl::ToDoubleSeconds(big_wall));
  env.report->AddFigure("small_alone_p50_us", alone.p50);
  env.report->AddFigure("small_loaded_p50_us", loaded.p50);
  env.report->AddFigure("small_loaded_p99_us", loaded.p99);
  env.report->AddFigure("small_loaded_samples", loaded.count);
  env.report->AddFigure("small_whole_call_p50_us", whole_call.p50);
  env.report->AddFigure("small_loaded_ratio", ratio);
}

// 8. Memory: what a sleeping task costs the server. Execute, not Gather, so
// the in-process client holds one chunk at a time rather than every result.
void MemoryPerTask(BenchEnv& env) {
  const int tasks = env.quick ? 200'000 : 1'000'000;
  const std::string scenario =
      absl::StrCat(Count(tasks), " × 1 s sleep in one batch (Execute)",
                   env.quick ? " (quick: 200k, full: 1M)" : "");
  if (env.server == nullptr) {
    env.report->AddRow({scenario, "n/a: server not in this process (--target)",
                        "", "", "≤ 500 bytes/task", Met::kNotApplicable});
    return;
  }
  // Built before the baseline reading: the caller's copy is not the server's.
  const ExecuteRequest request =
      MakeBatch(tasks, [](int) { return SleepTask(1); });
  const double wire_per_task =
      static_cast<double>(request.ByteSizeLong()) / tasks;
  // What the request takes parsed whole on a call arena, as the server kept
  // every batch before batches of kinds that read their task at start ran
  // from their wire bytes (TaskList): the figure that form saves.
  double request_per_task;
  {
    const std::string bytes = request.SerializeAsString();
    google::protobuf::Arena arena(CachedArenaOptions());
    if (!ParseRequest(bytes, &arena, nullptr).ok()) {
      return Failed(env, scenario, "rss_bytes_per_task",
                    absl::InternalError("request does not parse"));
    }
    request_per_task = static_cast<double>(arena.SpaceAllocated()) / tasks;
  }

  const bool reset = ResetPeakRss();
  const int64_t before = ProcStatusBytes("VmRSS");
  const int64_t heap_before = HeapInUseBytes();
  std::atomic<bool> running{true};
  uint64_t peak_inflight = 0;
  int64_t peak_heap = heap_before;
  // Samples what the kernel's peak cannot tell: how many tasks were alive at
  // once, and how much of the RSS is live heap rather than allocator slack.
  // mallinfo2 walks every free list with the arenas locked, so the heap is
  // read 10× less often: at 100 Hz it took 10% of the CPU and slowed the
  // server it measures.
  std::thread poller([&] {
    for (int poll = 0; running.load(); ++poll) {
      peak_inflight = std::max<uint64_t>(
          peak_inflight, env.server->executor().Stats().inflight_tasks());
      if (poll % 10 == 0) peak_heap = std::max(peak_heap, HeapInUseBytes());
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  grpc::ClientContext context;
  SetDeadline(context);
  const absl::Time start = absl::Now();
  auto reader = env.batch->Execute(&context, request);
  ExecuteEvent event;
  v1::Summary summary;
  while (reader->Read(&event)) {
    if (event.has_summary()) summary = event.summary();
  }
  grpc::Status status = reader->Finish();
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  running = false;
  poller.join();
  const int64_t peak = ProcStatusBytes("VmHWM");
  if (!status.ok()) {
    return Failed(env, scenario, "rss_bytes_per_task", FromGrpcStatus(status));
  }
  if (summary.succeeded() != static_cast<uint32_t>(tasks)) {
    return Failed(env, scenario, "rss_bytes_per_task",
                  absl::InternalError(absl::StrCat(summary.succeeded(), " of ",
                                                   tasks, " tasks succeeded")));
  }
  const double per_task = static_cast<double>(peak - before) / tasks;
  const double heap_per_task =
      static_cast<double>(peak_heap - heap_before) / tasks;
  env.report->AddRow(
      {scenario,
       absl::StrCat(Fixed(per_task, 0), " bytes/task peak RSS growth (",
                    Fixed((peak - before) / 1048576.0, 1), " MiB; live heap ",
                    Fixed(heap_per_task, 0), " bytes/task at peak; ",
                    Human(peak_inflight), " tasks sleeping at once at most; ",
                    "request ", Fixed(wire_per_task, 0), " wire bytes/task",
                    reset ? "" : "; VmHWM NOT reset", ")"),
       absl::StrCat("the request parsed whole, on an arena: ",
                    Fixed(request_per_task, 0), " bytes/task"),
       absl::StrCat(Fixed(per_task / request_per_task, 2), "× it"),
       "≤ 500 bytes/task", Check(per_task, 500)});
  env.report->AddFigure("rss_request_bytes_per_task", request_per_task);
  env.report->AddFigure("rss_heap_bytes_per_task", heap_per_task);
  env.report->AddFigure("rss_tasks", tasks);
  env.report->AddFigure("rss_bytes_per_task", per_task);
  env.report->AddFigure("rss_peak_growth_mib", (peak - before) / 1048576.0);
  env.report->AddFigure("rss_peak_inflight",
                        static_cast<double>(peak_inflight));
  env.report->AddFigure("rss_wire_bytes_per_task", wire_per_task);
  env.report->AddFigure("rss_batch_s", wall);
}

// 9. Event coalescing on the Execute stream.
void ExecuteStream(BenchEnv& env) {
  constexpr int kTasks = 100'000;
  const std::string scenario = "Execute stream of 100k echo tasks";
  const ExecuteRequest request = MakeBatch(kTasks, EchoTask);
  grpc::ClientContext context;
  SetDeadline(context);
  const absl::Time start = absl::Now();
  auto reader = env.batch->Execute(&context, request);
  ExecuteEvent event;
  int64_t messages = 0, chunks = 0, progress_only = 0, results = 0, bytes = 0;
  while (reader->Read(&event)) {
    ++messages;
    bytes += static_cast<int64_t>(event.ByteSizeLong());
    if (event.has_results()) {
      ++chunks;
      results += event.results().results_size();
    }
    progress_only += event.has_progress();
  }
  grpc::Status status = reader->Finish();
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  if (!status.ok()) {
    return Failed(env, scenario, "stream_messages", FromGrpcStatus(status));
  }
  if (results != kTasks) {
    return Failed(env, scenario, "stream_messages",
                  absl::InternalError(absl::StrCat(results, " results for ",
                                                   kTasks, " tasks")));
  }
  const double per_1000 = messages / (kTasks / 1000.0);
  env.report->AddRow(
      {scenario,
       absl::StrCat(messages, " messages (", chunks, " result chunks, ",
                    progress_only, " progress-only), ",
                    Fixed(bytes / 1048576.0, 2), " MiB, ", Ms(wall * 1e3),
                    " = ", Fixed(per_1000, 2), " messages per 1000 results"),
       "", "", "≤ 1 message per 1000 results", Check(per_1000, 1)});
  env.report->AddFigure("stream_messages", messages);
  env.report->AddFigure("stream_result_chunks", chunks);
  env.report->AddFigure("stream_progress_messages", progress_only);
  env.report->AddFigure("stream_bytes", bytes);
  env.report->AddFigure("stream_messages_per_1000", per_1000);
  env.report->AddFigure("stream_tasks_per_s", kTasks / wall);
}

// The 100k echo Gather on a second in-process server with --metrics_port on
// against the bench's own (metrics off), runs interleaved so that drift
// hits both alike: what counting every task costs.
void MetricsOverhead(BenchEnv& env) {
  const std::string scenario = "100k echo tasks, metrics on";
  if (env.server == nullptr) {
    env.report->AddRow({scenario, "n/a with --target", "", "",
                        "≥ 0.97× metrics off", Met::kNotApplicable});
    return;
  }
  auto registry = std::make_unique<TaskRegistry>();
  absl::Status registered = RegisterBuiltinKinds(*registry);
  ServerOptions options;
  options.metrics_port = FreeLoopbackPort();
  auto on = registered.ok()
                ? Server::BuildAndStart(options, std::move(registry))
                : absl::StatusOr<std::unique_ptr<Server>>(registered);
  if (!on.ok()) {
    return Failed(env, scenario, "echo100k_metrics_ratio", on.status());
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto on_stub = v1::BatchExecutor::NewStub(grpc::CreateCustomChannel(
      (*on)->target(), grpc::InsecureChannelCredentials(), args));
  constexpr int kTasks = 100'000;
  const int runs = env.quick ? 5 : 9;
  const ExecuteRequest request = MakeBatch(kTasks, EchoTask);
  std::vector<double> off_rates, on_rates;
  for (int i = 0; i < runs; ++i) {
    for (bool metrics : {false, true}) {
      GatherReply reply;
      auto wall = TimedGather(metrics ? *on_stub : *env.batch, request, &reply);
      if (!wall.ok()) {
        return Failed(env, scenario, "echo100k_metrics_ratio", wall.status());
      }
      (metrics ? on_rates : off_rates)
          .push_back(kTasks / absl::ToDoubleSeconds(*wall));
    }
  }
  const double off = Median(off_rates), with = Median(on_rates);
  const double ratio = with / off;
  env.report->AddFigure("echo100k_metrics_on_tasks_per_s", with);
  env.report->AddFigure("echo100k_metrics_off_tasks_per_s", off);
  env.report->AddFigure("echo100k_metrics_ratio", ratio);
  env.report->AddRow(
      {scenario, absl::StrCat(Human(with), " tasks/s (median of ", runs, ")"),
       absl::StrCat("metrics off: ", Human(off), " tasks/s"), Times(ratio),
       "≥ 0.97× metrics off", Check(ratio, 0.97, /*at_least=*/true)});
}

// A channel to a child server, connected before anything is timed: the
// figures below are the server's, not the TCP and HTTP/2 handshakes'.
// `own_connection`: a subchannel pool of the channel's own, so that it opens
// a new connection even where another channel has one to the same target.
absl::StatusOr<std::unique_ptr<v1::BatchExecutor::Stub>> ConnectedStub(
    const std::string& target, bool own_connection = false) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", target));
  }
  return v1::BatchExecutor::NewStub(channel);
}

// 10. The first batch a fresh server process runs vs the ones after it:
// what is created lazily on first use (pools, threads, arenas, gRPC's
// per-call state) and paid for by the first caller.
void FirstCall(BenchEnv& env) {
  const std::string scenario =
      "10k × 0.1 s sleep, first batch of a fresh server process";
  const int processes = env.quick ? 3 : 5;
  constexpr int kWarm = 3;
  const ExecuteRequest request =
      MakeBatch(10'000, [](int) { return SleepTask(0.1); });
  // After the warm batches, the same batch once more on a new connection
  // to the now warm server: what of the first call's cost is the new
  // connection's (HTTP/2 flow-control windows start at 64 KiB and grow with
  // use; the request is 330 KB) rather than the server process's.
  std::vector<double> first_ms, warm_ms, ratios, new_connection_ms;
  for (int p = 0; p < processes; ++p) {
    auto child = ChildServer::Start();
    if (!child.ok())
      return Failed(env, scenario, "first_call_ratio", child.status());
    auto stub = ConnectedStub((*child)->target());
    if (!stub.ok())
      return Failed(env, scenario, "first_call_ratio", stub.status());
    std::vector<double> walls;
    for (int i = 0; i <= kWarm; ++i) {
      auto wall = TimedGather(**stub, request);
      if (!wall.ok()) {
        return Failed(env, scenario, "first_call_ratio", wall.status());
      }
      walls.push_back(absl::ToDoubleMilliseconds(*wall));
    }
    const double warm =
        Median(std::vector<double>(walls.begin() + 1, walls.end()));
    first_ms.push_back(walls[0]);
    warm_ms.push_back(warm);
    ratios.push_back(walls[0] / warm);
    auto fresh = ConnectedStub((*child)->target(), /*own_connection=*/true);
    if (!fresh.ok()) {
      return Failed(env, scenario, "first_call_ratio", fresh.status());
    }
    auto wall = TimedGather(**fresh, request);
    if (!wall.ok()) {
      return Failed(env, scenario, "first_call_ratio", wall.status());
    }
    new_connection_ms.push_back(absl::ToDoubleMilliseconds(*wall));
  }
  const double ratio = Median(ratios);
  std::string each;
  for (double r : ratios) {
    absl::StrAppend(&each, each.empty() ? "" : " / ", Fixed(r));
  }
  env.report->AddRow(
      {absl::StrCat(scenario, " (", processes, " processes)"),
       absl::StrCat("first batch ", Ms(Median(first_ms)),
                    " (median over the processes; the real batchexec_server "
                    "binary as a child, channel connected beforehand)"),
       absl::StrCat("the next ", kWarm,
                    " batches of the same process: ", Ms(Median(warm_ms)),
                    " (median); then the same batch on a new connection to "
                    "the warm server: ",
                    Ms(Median(new_connection_ms)), " = ",
                    Times(Median(new_connection_ms) / Median(warm_ms)),
                    " warm"),
       absl::StrCat(Times(ratio), " (each process: ", each, ")"),
       "first ≤ 1.2× warm", Check(ratio, 1.2)});
  env.report->AddFigure("first_call_ms", Median(first_ms));
  env.report->AddFigure("first_call_warm_ms", Median(warm_ms));
  env.report->AddFigure("first_call_ratio", ratio);
  env.report->AddFigure("first_call_new_connection_ms",
                        Median(new_connection_ms));
}

// 11. Memory of the server alone: the real binary in a fresh process of its
// own, one Execute batch of N × 1 s sleeps sent from this process. RSS from
// the child's /proc/PID/status, live heap from its /metrics
// (batchexec_process_heap_bytes, mallinfo2), sampled while the batch runs.
void MemoryFreshProcess(BenchEnv& env) {
  const int tasks = env.quick ? 200'000 : 1'000'000;
  const std::string scenario =
      absl::StrCat(Count(tasks), " × 1 s sleep in one batch (Execute), ",
                   "server in a fresh process of its own",
                   env.quick ? " (quick: 200k, full: 1M)" : "");
  const std::string key = "proc_rss_bytes_per_task";
  const int metrics_port = FreeLoopbackPort();
  auto child =
      ChildServer::Start({absl::StrCat("--metrics_port=", metrics_port)});
  if (!child.ok()) return Failed(env, scenario, key, child.status());
  const ChildServer& server = **child;
  const ExecuteRequest request =
      MakeBatch(tasks, [](int) { return SleepTask(1); });
  double request_per_task;
  {
    const std::string bytes = request.SerializeAsString();
    google::protobuf::Arena arena(CachedArenaOptions());
    if (!ParseRequest(bytes, &arena, nullptr).ok()) {
      return Failed(env, scenario, key,
                    absl::InternalError("request does not parse"));
    }
    request_per_task = static_cast<double>(arena.SpaceAllocated()) / tasks;
  }
  auto stub = ConnectedStub(server.target());
  if (!stub.ok()) return Failed(env, scenario, key, stub.status());
  auto heap_before = ScrapeMetric(metrics_port, "batchexec_process_heap_bytes");
  if (!heap_before.ok())
    return Failed(env, scenario, key, heap_before.status());
  const bool reset = server.ResetPeakRss();
  const int64_t before = server.StatusBytes("VmRSS");

  std::atomic<bool> running{true};
  double peak_heap = *heap_before;
  int64_t peak_inflight = 0;
  std::thread poller([&] {
    while (running.load()) {
      if (auto heap =
              ScrapeMetric(metrics_port, "batchexec_process_heap_bytes");
          heap.ok()) {
        peak_heap = std::max(peak_heap, *heap);
      }
      if (auto inflight =
              ScrapeMetric(metrics_port, "batchexec_tasks_inflight");
          inflight.ok()) {
        peak_inflight =
            std::max(peak_inflight, static_cast<int64_t>(*inflight));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  grpc::ClientContext context;
  SetDeadline(context);
  auto reader = (*stub)->Execute(&context, request);
  ExecuteEvent event;
  v1::Summary summary;
  while (reader->Read(&event)) {
    if (event.has_summary()) summary = event.summary();
  }
  grpc::Status status = reader->Finish();
  running = false;
  poller.join();
  const int64_t peak = server.StatusBytes("VmHWM");
  if (!status.ok()) return Failed(env, scenario, key, FromGrpcStatus(status));
  if (summary.succeeded() != static_cast<uint32_t>(tasks)) {
    return Failed(env, scenario, key,
                  absl::InternalError(absl::StrCat(summary.succeeded(), " of ",
                                                   tasks, " tasks succeeded")));
  }
  const double per_task = static_cast<double>(peak - before) / tasks;
  const double heap_per_task = (peak_heap - *heap_before) / tasks;
  env.report->AddRow(
      {scenario,
       absl::StrCat(Fixed(per_task, 0), " bytes/task peak RSS growth (",
                    Fixed((peak - before) / 1048576.0, 1), " MiB over ",
                    Fixed(before / 1048576.0, 1), " MiB at start; live heap ",
                    Fixed(heap_per_task, 0),
                    " bytes/task at peak, from the server's /metrics; ",
                    Human(static_cast<double>(peak_inflight)),
                    " tasks sleeping at once at most",
                    reset ? "" : "; VmHWM NOT reset", ")"),
       absl::StrCat("the request parsed whole, on an arena: ",
                    Fixed(request_per_task, 0), " bytes/task"),
       absl::StrCat(Fixed(per_task / request_per_task, 2), "× it (heap ",
                    Fixed(heap_per_task / request_per_task, 2), "×)"),
       "≤ 500 bytes/task", Check(per_task, 500)});
  env.report->AddFigure("proc_rss_tasks", tasks);
  env.report->AddFigure("proc_rss_start_mib", before / 1048576.0);
  env.report->AddFigure(key, per_task);
  env.report->AddFigure("proc_heap_bytes_per_task", heap_per_task);
  env.report->AddFigure("proc_request_bytes_per_task", request_per_task);
  env.report->AddFigure("proc_peak_inflight",
                        static_cast<double>(peak_inflight));
}

}  // namespace

const std::vector<Scenario>& AllScenarios() {
  static const auto* scenarios = new std::vector<Scenario>{
      {"echo1", OneTaskLatency},
      {"echo100k", HundredThousandEcho},
      {"sleep10k", Sleep10k},
      {"sleep100k", Sleep100k},
      {"sleep_bounded", SleepBounded},
      {"callers64", ConcurrentCallers},
      {"small_under_load", SmallBatchUnderLoad},
      {"memory", MemoryPerTask},
      {"memory_process", MemoryFreshProcess},
      {"first_call", FirstCall},
      {"stream", ExecuteStream},
      {"metrics", MetricsOverhead},
      {"cli100k", CliVsSdk},
      {"http10k", Http10k},
      {"tcp_probe10k", TcpProbe10k},
      {"dns10k", Dns10k},
      {"grpc_health2k", GrpcHealth2k},
  };
  return *scenarios;
}

}  // namespace batchexec::bench
