// The primes kind: exact counts, and a pool-bounded footprint — started jobs
// waiting for their next turn hold no working buffers. A binary of its own:
// it reads the process's peak RSS.
#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/core/executor.h"
#include "server/tasks/kinds.h"
#include "server/test_util/recording_sink.h"

namespace batchexec {
namespace {

std::unique_ptr<v1::ExecuteRequest> PrimesRequest(
    const std::vector<int64_t>& ns) {
  auto request = std::make_unique<v1::ExecuteRequest>();
  for (int64_t n : ns) {
    v1::Task* task = request->add_tasks();
    task->set_kind("primes");
    (*task->mutable_args()->mutable_fields())["n"].set_number_value(
        static_cast<double>(n));
  }
  return request;
}

// A field of /proc/self/status, in KiB.
int64_t StatusKiB(absl::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, absl::StrCat(field, ":"))) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t kib = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib;
  }
  ADD_FAILURE() << "no " << field << " in /proc/self/status";
  return 0;
}

absl::Duration CpuTime() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) +
         absl::DurationFromTimeval(usage.ru_stime);
}

class PrimesKindTest : public ::testing::Test {
 protected:
  PrimesKindTest() {
    EXPECT_TRUE(RegisterBuiltinKinds(registry_).ok());
    ExecutorOptions options;
    options.cpu_workers = 2;
    executor_ = std::make_unique<Executor>(options, registry_);
  }
  TaskRegistry registry_;
  std::unique_ptr<Executor> executor_;
};

// Jobs of one batch take turns on two workers, so each sieves its slices
// in the segment buffer the others also used: the counts stay exact.
TEST_F(PrimesKindTest, CountsAreExactWhileJobsShareTheWorkersBuffers) {
  const std::vector<int64_t> ns = {100'000'000, 10'000'000, 1'000'000, 0,
                                   1,           2,          3,         100'000,
                                   10'000'000,  1'000'000};
  const std::vector<double> want = {5761455, 664579, 78498, 0,      0,
                                    0,       1,      9592,  664579, 78498};
  auto sink = std::make_shared<RecordingSink>();
  auto batch =
      executor_->Start(PrimesRequest(ns), absl::InfiniteFuture(), sink);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(sink->WaitDone(absl::Minutes(5)));
  std::vector<v1::TaskResult> results = sink->ByIndex();
  ASSERT_EQ(results.size(), ns.size());
  for (size_t i = 0; i < ns.size(); ++i) {
    ASSERT_EQ(results[i].status().code(), 0) << results[i].status().message();
    EXPECT_EQ(
        results[i].output().struct_value().fields().at("count").number_value(),
        want[i])
        << "n = " << ns[i];
  }
}

// 2000 primes(1e8) jobs, each many slices long, on two workers: one round
// of first slices takes ~5 s, so every slice measured here is a job's first
// and (before the fix) left a 64 KiB segment and ~10 KiB of base primes
// with the waiting job: 3 s of CPU is >= 600 slices, >= 40 MiB. The
// footprint must stay the pool's (two segments) plus noise.
TEST_F(PrimesKindTest, WaitingJobsHoldNoWorkingBuffers) {
  constexpr int kJobs = 2000;
  auto sink = std::make_shared<RecordingSink>();
  auto batch =
      executor_->Start(PrimesRequest(std::vector<int64_t>(kJobs, 100'000'000)),
                       absl::InfiniteFuture(), sink);
  ASSERT_TRUE(batch.ok()) << batch.status();
  const int64_t peak_before = StatusKiB("VmHWM");
  const absl::Duration cpu_before = CpuTime();
  // CPU time, not wall time: a loaded machine gives the workers less.
  const absl::Time give_up = absl::Now() + absl::Minutes(2);
  while (CpuTime() - cpu_before < absl::Seconds(3) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const int64_t growth_kib = StatusKiB("VmHWM") - peak_before;
  const int64_t finished =
      static_cast<int64_t>(sink->InCompletionOrder().size());
  (*batch)->Cancel(absl::CancelledError("measured"));
  ASSERT_TRUE(sink->WaitDone(absl::Minutes(1)));
  EXPECT_LT(CpuTime() - cpu_before, absl::Minutes(2)) << "never got the CPU";
  // Hardly any job can have ended (each needs ~20 slices): the measure was
  // of waiting jobs.
  EXPECT_LT(finished, kJobs / 10);
  EXPECT_LT(growth_kib, 16 << 10)
      << "peak RSS grew by " << (growth_kib >> 10) << " MiB while " << kJobs
      << " primes jobs took turns";
}

}  // namespace
}  // namespace batchexec
