#include "client/internal/gather_coordinator.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "client/gather_options.h"
#include "client/internal/result_merger.h"
#include "client/internal/test_events.h"
#include "client/progress.h"
#include "client/task_output.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::batchexec::testing::Chunk;
using ::batchexec::testing::ServerProgress;
using AfterReaction = GatherCoordinator::AfterReaction;

// Stands in for the streams: records what the coordinator asks of each part.
class FakeParts : public GatherCoordinator::Parts {
 public:
  explicit FakeParts(size_t n) : starts_(n), cancels_(n) {}

  void StartPart(size_t part) override {
    ++starts_[part];
    Log(absl::StrCat("start ", part));
    if (on_start) on_start(part);
  }
  void CancelPart(size_t part) override {
    ++cancels_[part];
    Log(absl::StrCat("cancel ", part));
  }

  int starts(size_t part) const { return starts_[part]; }
  int cancels(size_t part) const { return cancels_[part]; }
  int total_cancels() const {
    int sum = 0;
    for (const std::atomic<int>& c : cancels_) sum += c;
    return sum;
  }
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

  // Runs inside StartPart, e.g. to end the part inline.
  std::function<void(size_t part)> on_start;

 private:
  void Log(std::string entry) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(std::move(entry));
  }

  std::vector<std::atomic<int>> starts_;
  std::vector<std::atomic<int>> cancels_;
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

// Records the callbacks of one call and notices any two that overlap. Its
// vectors are only written inside callbacks, which the coordinator
// serializes, and read after Wait().
struct Recorder {
  // Callbacks run one at a time: an overlap shows up as a second entrant.
  class Scope {
   public:
    explicit Scope(Recorder& r) : r_(r) {
      if (r_.inside.fetch_add(1) != 0) r_.overlapped = true;
      if (r_.done_calls > 0) r_.after_done = true;
      std::this_thread::yield();  // widen the window for an overlap
    }
    ~Scope() { r_.inside.fetch_sub(1); }

   private:
    Recorder& r_;
  };

  GatherOptions Options(FailurePolicy policy) {
    GatherOptions options;
    options.failure_policy = policy;
    options.on_result = [this](size_t index,
                               const absl::StatusOr<TaskOutput>& result) {
      Scope scope(*this);
      results.push_back(index);
      statuses.push_back(result.status());
      if (on_result) on_result(index);
    };
    options.on_progress = [this](const Progress& p) {
      Scope scope(*this);
      progress.push_back(p);
    };
    options.on_done = [this](const GatherResult& result) {
      Scope scope(*this);
      ++done_calls;
      done_thread = std::this_thread::get_id();
      done_status = result.status;
      if (on_done) on_done();
    };
    return options;
  }

  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::atomic<bool> after_done{false};  // a callback ran after on_done
  std::atomic<int> done_calls{0};
  std::vector<size_t> results;
  std::vector<absl::Status> statuses;
  std::vector<Progress> progress;
  std::thread::id done_thread;
  absl::Status done_status;
  // Extra work for a test, inside the callback.
  std::function<void(size_t index)> on_result;
  std::function<void()> on_done;
};

v1::TaskResult Succeeded(uint32_t index) {
  v1::TaskResult result;
  result.set_index(index);
  result.set_id(absl::StrCat("t", index));
  result.mutable_output()->set_string_value("ok");
  return result;
}

v1::TaskResult Failed(uint32_t index) {
  v1::TaskResult result = Succeeded(index);
  result.mutable_status()->set_code(
      static_cast<int>(absl::StatusCode::kAborted));
  result.mutable_status()->set_message("boom");
  return result;
}

// `parts` parts of `size` tasks each.
std::vector<ResultMerger::PartLayout> Layout(size_t parts, size_t size) {
  std::vector<ResultMerger::PartLayout> layout;
  for (size_t i = 0; i < parts; ++i) {
    layout.push_back({i * size, size, absl::StrCat("s", i)});
  }
  return layout;
}

// One call: the fake parts, the recorder and the coordinator.
struct Call {
  Call(size_t parts, size_t size, FailurePolicy policy)
      : fake(parts), parts(parts) {
    coordinator = std::make_unique<GatherCoordinator>(
        Layout(parts, size), recorder.Options(policy), absl::Now(), fake);
  }

  // A part's whole life: results 0..size-1, `per_event` to an event, then
  // OK. Returns what its last reaction said.
  AfterReaction RunPart(size_t part, size_t size, size_t per_event) {
    for (size_t i = 0; i < size; i += per_event) {
      std::vector<v1::TaskResult> chunk;
      for (size_t j = i; j < size && j < i + per_event; ++j) {
        chunk.push_back(Succeeded(static_cast<uint32_t>(j)));
      }
      v1::ExecuteEvent event = Chunk(std::move(chunk), 1, 0);
      EXPECT_EQ(coordinator->OnPartEvent(part, event), AfterReaction::kKeep)
          << "an event reaction destroyed the call";
    }
    return coordinator->OnPartDone(part, absl::OkStatus());
  }

  FakeParts fake;
  Recorder recorder;
  const size_t parts;
  std::unique_ptr<GatherCoordinator> coordinator;
};

// Begins `coordinator` as GatherCall does: callbacks Begin left waiting
// run on a thread of their own. Returns whether there were any.
bool BeginAndDeliver(GatherCoordinator& coordinator,
                     const std::vector<bool>& sendable) {
  if (!coordinator.Begin(sendable)) return false;
  std::thread([&coordinator] {
    EXPECT_EQ(coordinator.DeliverDeferred(), AfterReaction::kKeep);
  }).join();
  return true;
}

// A call whose parts all have a server, begun.
std::unique_ptr<Call> StartCall(size_t parts, size_t size,
                                FailurePolicy policy) {
  auto call = std::make_unique<Call>(parts, size, policy);
  EXPECT_FALSE(call->coordinator->Begin(std::vector<bool>(parts, true)));
  return call;
}

TEST(GatherCoordinator,
     DeliversEachResultOnceInRecordedOrderFromConcurrentParts) {
  constexpr size_t kParts = 3;
  constexpr size_t kSize = 300;
  auto call = StartCall(kParts, kSize, FailurePolicy::kCollectAll);
  for (size_t p = 0; p < kParts; ++p) EXPECT_EQ(call->fake.starts(p), 1);

  // A waiter from another thread, while the parts report from theirs.
  GatherResult waited;
  std::thread waiter([&] { waited = call->coordinator->TakeResult(); });
  std::vector<std::thread> parts;
  for (size_t p = 0; p < kParts; ++p) {
    parts.emplace_back([&call, p] {
      EXPECT_EQ(call->RunPart(p, kSize, /*per_event=*/1 + p),
                AfterReaction::kKeep);
    });
  }
  for (std::thread& t : parts) t.join();
  waiter.join();

  const Recorder& r = call->recorder;
  EXPECT_FALSE(r.overlapped);
  EXPECT_FALSE(r.after_done);
  EXPECT_EQ(r.done_calls, 1);
  ASSERT_EQ(r.results.size(), kParts * kSize);
  // Once per index, and each part's in the order it sent them.
  std::vector<int> seen(kParts * kSize, 0);
  std::vector<size_t> next(kParts, 0);
  for (size_t index : r.results) {
    ++seen[index];
    const size_t part = index / kSize;
    EXPECT_EQ(index % kSize, next[part]++) << "part " << part;
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << i;

  EXPECT_TRUE(waited.status.ok()) << waited.status;
  ASSERT_EQ(waited.results.size(), kParts * kSize);
  for (size_t i = 0; i < waited.results.size(); ++i) {
    ASSERT_TRUE(waited.results[i].ok()) << i;
    EXPECT_EQ(waited.results[i]->id, absl::StrCat("t", i % kSize));
  }
  EXPECT_EQ(waited.progress.completed, kParts * kSize);
  EXPECT_TRUE(call->coordinator->done());
  EXPECT_EQ(call->fake.total_cancels(), 0);
  // Progress never goes back.
  for (size_t i = 1; i < r.progress.size(); ++i) {
    EXPECT_GE(r.progress[i].completed, r.progress[i - 1].completed);
  }
  EXPECT_EQ(call->coordinator->DetachIfInCallback(), false);
}

TEST(GatherCoordinator, WithoutKeepOutputsOnlyOnResultSeesEachOutput) {
  FakeParts fake(1);
  Recorder recorder;
  GatherOptions options = recorder.Options(FailurePolicy::kCollectAll);
  options.keep_outputs = false;
  std::vector<std::string> seen;  // what on_result got, in order
  options.on_result = [&seen](size_t,
                              const absl::StatusOr<TaskOutput>& result) {
    seen.push_back(result.ok() ? result->output.string_value() : "failed");
  };
  GatherCoordinator coordinator(Layout(1, 3), std::move(options), absl::Now(),
                                fake);
  EXPECT_FALSE(coordinator.Begin({true}));
  v1::TaskResult with_payload = Succeeded(2);
  with_payload.set_payload("bytes");
  v1::ExecuteEvent event =
      Chunk({Succeeded(0), Failed(1), std::move(with_payload)}, 0, 0);
  EXPECT_EQ(coordinator.OnPartEvent(0, event), AfterReaction::kKeep);
  EXPECT_EQ(coordinator.OnPartDone(0, absl::OkStatus()), AfterReaction::kKeep);
  EXPECT_EQ(seen, (std::vector<std::string>{"ok", "failed", "ok"}));

  GatherResult result = coordinator.TakeResult();
  ASSERT_EQ(result.results.size(), 3u);
  ASSERT_TRUE(result.results[0].ok());
  EXPECT_EQ(result.results[0]->id, "t0");
  EXPECT_EQ(result.results[0]->output.kind_case(),
            google::protobuf::Value::KIND_NOT_SET);
  EXPECT_EQ(result.results[1].status().code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(result.results[2].ok());
  EXPECT_EQ(result.results[2]->id, "t2");
  EXPECT_TRUE(result.results[2]->payload.empty());
  EXPECT_EQ(result.results[2]->output.kind_case(),
            google::protobuf::Value::KIND_NOT_SET);
}

TEST(GatherCoordinator, ReportsProgressOnlyWhenItChanges) {
  auto call = StartCall(1, 2, FailurePolicy::kCollectAll);
  // Begin reports nothing: it runs on the caller's thread.
  EXPECT_TRUE(call->recorder.progress.empty());

  for (int i = 0; i < 3; ++i) {
    v1::ExecuteEvent same = ServerProgress(1, 1);
    EXPECT_EQ(call->coordinator->OnPartEvent(0, same), AfterReaction::kKeep);
  }
  v1::ExecuteEvent again = ServerProgress(1, 1);
  EXPECT_EQ(call->coordinator->OnPartEvent(0, again), AfterReaction::kKeep);
  v1::ExecuteEvent moved = ServerProgress(2, 0);
  EXPECT_EQ(call->coordinator->OnPartEvent(0, moved), AfterReaction::kKeep);
  v1::ExecuteEvent empty_chunk = Chunk({}, 2, 0);
  EXPECT_EQ(call->coordinator->OnPartEvent(0, empty_chunk),
            AfterReaction::kKeep);

  const std::vector<Progress>& seen = call->recorder.progress;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (Progress{2, 0, 0, 1, 1}));
  EXPECT_EQ(seen[1], (Progress{2, 0, 0, 2, 0}));
  call->coordinator->Cancel();
  EXPECT_EQ(call->coordinator->OnPartDone(0, absl::CancelledError("x")),
            AfterReaction::kKeep);
}

TEST(GatherCoordinator, FailFastCancelsEveryOtherPartExactlyOnce) {
  // Two parts fail at the same time; only the first failure trips.
  for (int round = 0; round < 20; ++round) {
    constexpr size_t kParts = 4;
    auto call = StartCall(kParts, 2, FailurePolicy::kFailFast);
    std::vector<std::thread> failing;
    for (size_t p = 0; p < 2; ++p) {
      failing.emplace_back([&call, p] {
        v1::ExecuteEvent event = Chunk({Failed(0)}, 1, 0);
        EXPECT_EQ(call->coordinator->OnPartEvent(p, event),
                  AfterReaction::kKeep);
      });
    }
    for (std::thread& t : failing) t.join();

    ASSERT_EQ(call->fake.total_cancels(), static_cast<int>(kParts - 1));
    const size_t tripped = call->fake.cancels(0) == 0 ? 0 : 1;
    for (size_t p = 0; p < kParts; ++p) {
      EXPECT_EQ(call->fake.cancels(p), p == tripped ? 0 : 1) << p;
    }
    // The cancelled parts end CANCELLED; the batch reports the failure.
    for (size_t p = 0; p < kParts; ++p) {
      EXPECT_EQ(call->coordinator->OnPartDone(
                    p, p == tripped ? absl::OkStatus()
                                    : absl::CancelledError("cancelled")),
                AfterReaction::kKeep);
    }
    const GatherResult& result = call->coordinator->Wait();
    EXPECT_EQ(result.status.code(), absl::StatusCode::kAborted)
        << result.status;
    EXPECT_EQ(call->recorder.done_calls, 1);
    EXPECT_EQ(call->fake.total_cancels(), static_cast<int>(kParts - 1));
  }
}

TEST(GatherCoordinator, CollectAllCancelsNothingOnAFailure) {
  auto call = StartCall(2, 1, FailurePolicy::kCollectAll);
  v1::ExecuteEvent event = Chunk({Failed(0)}, 0, 0);
  EXPECT_EQ(call->coordinator->OnPartEvent(0, event), AfterReaction::kKeep);
  EXPECT_EQ(call->fake.total_cancels(), 0);
  EXPECT_EQ(call->coordinator->OnPartDone(0, absl::OkStatus()),
            AfterReaction::kKeep);
  EXPECT_EQ(call->RunPart(1, 1, 1), AfterReaction::kKeep);
  EXPECT_EQ(call->coordinator->Wait().status.code(),
            absl::StatusCode::kAborted);
}

TEST(GatherCoordinator, CancelRacingWithPartEndsEndsTheCallOnce) {
  for (int round = 0; round < 50; ++round) {
    constexpr size_t kParts = 3;
    constexpr size_t kSize = 20;
    auto call = StartCall(kParts, kSize, FailurePolicy::kCollectAll);
    std::atomic<bool> stop{false};
    std::thread canceller([&] {
      while (!stop) {
        call->coordinator->Cancel();
        std::this_thread::yield();
      }
    });
    std::vector<std::thread> parts;
    for (size_t p = 0; p < kParts; ++p) {
      parts.emplace_back([&call, p] {
        // Half its results, then the end the cancellation would bring.
        EXPECT_EQ(call->RunPart(p, kSize / 2, 3), AfterReaction::kKeep);
      });
    }
    for (std::thread& t : parts) t.join();
    const GatherResult& result = call->coordinator->Wait();
    stop = true;
    canceller.join();

    EXPECT_EQ(call->recorder.done_calls, 1);
    EXPECT_FALSE(call->recorder.overlapped);
    EXPECT_FALSE(call->recorder.after_done);
    ASSERT_EQ(call->recorder.results.size(), kParts * kSize);
    std::vector<int> seen(kParts * kSize, 0);
    for (size_t index : call->recorder.results) ++seen[index];
    for (int n : seen) EXPECT_EQ(n, 1);
    // The parts ended OK owing results: INTERNAL, the first failure.
    EXPECT_EQ(result.status.code(), absl::StatusCode::kInternal)
        << result.status;
    EXPECT_EQ(result.progress.completed, kParts * kSize);
  }
}

TEST(GatherCoordinator, CancelledPartsEndTheCallCancelledByTheCaller) {
  auto call = StartCall(2, 1, FailurePolicy::kFailFast);
  std::thread canceller([&] { call->coordinator->Cancel(); });
  canceller.join();
  EXPECT_EQ(call->fake.cancels(0), 1);
  EXPECT_EQ(call->fake.cancels(1), 1);
  call->coordinator->Cancel();  // idempotent as far as the call goes
  std::vector<std::thread> ends;
  for (size_t p = 0; p < 2; ++p) {
    ends.emplace_back([&call, p] {
      EXPECT_EQ(call->coordinator->OnPartDone(p, absl::CancelledError("c")),
                AfterReaction::kKeep);
    });
  }
  for (std::thread& t : ends) t.join();
  const GatherResult& result = call->coordinator->Wait();
  EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled);
  ASSERT_EQ(call->recorder.statuses.size(), 2u);
  for (const absl::Status& s : call->recorder.statuses) {
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  }

  // After the end, Cancel reaches no part.
  const int cancels = call->fake.total_cancels();
  call->coordinator->Cancel();
  EXPECT_EQ(call->fake.total_cancels(), cancels);
  EXPECT_EQ(call->coordinator->Wait().status.code(),
            absl::StatusCode::kCancelled);
}

TEST(GatherCoordinator, WaitFromAnotherThreadReturnsOnlyAfterOnDoneReturned) {
  auto call = StartCall(1, 1, FailurePolicy::kCollectAll);
  std::atomic<bool> on_done_returned{false};
  std::atomic<bool> release_on_done{false};
  call->recorder.on_done = [&] {
    while (!release_on_done) std::this_thread::yield();
    on_done_returned = true;
  };
  EXPECT_FALSE(call->coordinator->WaitFor(absl::Milliseconds(10)));

  std::atomic<bool> waited{false};
  std::thread waiter([&] {
    const GatherResult& result = call->coordinator->Wait();
    EXPECT_TRUE(on_done_returned);
    EXPECT_TRUE(result.status.ok()) << result.status;
    waited = true;
  });
  std::thread part([&] { call->RunPart(0, 1, 1); });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(waited);  // on_done still runs
  EXPECT_FALSE(call->coordinator->done());
  release_on_done = true;
  part.join();
  waiter.join();
  EXPECT_TRUE(waited);
  EXPECT_TRUE(call->coordinator->done());
  EXPECT_TRUE(call->coordinator->WaitFor(absl::ZeroDuration()));

  GatherResult taken = call->coordinator->TakeResult();
  EXPECT_EQ(taken.results.size(), 1u);
  EXPECT_TRUE(call->coordinator->TakeResult().results.empty());
}

TEST(GatherCoordinator, WaitAndTakeResultFromOnDoneReturnAtOnce) {
  auto call = StartCall(2, 1, FailurePolicy::kCollectAll);
  size_t seen_in_on_done = 0;
  GatherResult taken;
  call->recorder.on_done = [&] {
    seen_in_on_done = call->coordinator->Wait().results.size();
    taken = call->coordinator->TakeResult();
  };
  std::thread a([&] { call->RunPart(0, 1, 1); });
  std::thread b([&] { call->RunPart(1, 1, 1); });
  a.join();
  b.join();
  EXPECT_EQ(seen_in_on_done, 2u);
  EXPECT_EQ(taken.results.size(), 2u);
  EXPECT_TRUE(call->coordinator->done());
  EXPECT_EQ(call->recorder.done_status, absl::OkStatus());
}

TEST(GatherCoordinator,
     HandleGoneInsideACallbackLeavesTheLastReactionToDestroy) {
  auto call = StartCall(2, 1, FailurePolicy::kCollectAll);
  // The user destroys the handle from on_result: it cancels, then detaches.
  std::atomic<bool> detached{false};
  call->recorder.on_result = [&](size_t) {
    if (detached) return;
    call->coordinator->Cancel();
    detached = call->coordinator->DetachIfInCallback();
  };
  v1::ExecuteEvent event = Chunk({Succeeded(0)}, 0, 0);
  EXPECT_EQ(call->coordinator->OnPartEvent(0, event), AfterReaction::kKeep);
  EXPECT_TRUE(detached);
  EXPECT_EQ(call->fake.cancels(0), 1);
  EXPECT_EQ(call->fake.cancels(1), 1);

  // The parts end on their own threads; only the very last reaction owns
  // the coordinator.
  std::atomic<int> destroyers{0};
  std::vector<std::thread> ends;
  for (size_t p = 0; p < 2; ++p) {
    ends.emplace_back([&call, &destroyers, p] {
      if (call->coordinator->OnPartDone(p, absl::CancelledError("c")) ==
          AfterReaction::kDestroy) {
        ++destroyers;
      }
    });
  }
  for (std::thread& t : ends) t.join();
  EXPECT_EQ(destroyers, 1);
  EXPECT_EQ(call->recorder.done_calls, 1);
  call->coordinator.reset();  // what kDestroy asks of the caller
}

TEST(GatherCoordinator, HandleGoneInsideOnDoneMakesThatReactionTheDestroyer) {
  auto call = StartCall(1, 1, FailurePolicy::kCollectAll);
  bool detached = false;
  call->recorder.on_done = [&] {
    call->coordinator->Cancel();  // after the end: reaches no part
    detached = call->coordinator->DetachIfInCallback();
  };
  EXPECT_EQ(call->RunPart(0, 1, 1), AfterReaction::kDestroy);
  EXPECT_TRUE(detached);
  EXPECT_EQ(call->fake.total_cancels(), 0);
  call->coordinator.reset();
}

TEST(GatherCoordinator, HandleGoneOutsideWaitsForTheLastReactionToLeave) {
  auto call = StartCall(2, 1, FailurePolicy::kCollectAll);
  std::atomic<bool> release_on_done{false};
  call->recorder.on_done = [&] {
    while (!release_on_done) std::this_thread::yield();
  };
  std::atomic<bool> returned{false};
  std::thread handle([&] {
    EXPECT_FALSE(call->coordinator->DetachIfInCallback());
    returned = true;
  });
  EXPECT_EQ(call->RunPart(0, 1, 1), AfterReaction::kKeep);
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_FALSE(returned);  // part 1 is still open

  std::thread last(
      [&] { EXPECT_EQ(call->RunPart(1, 1, 1), AfterReaction::kKeep); });
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_FALSE(returned);  // its reaction still runs on_done
  release_on_done = true;
  last.join();
  handle.join();
  EXPECT_TRUE(returned);
}

TEST(GatherCoordinator, PartsWithoutAServerFailAtOnceOffTheCallersThread) {
  for (FailurePolicy policy :
       {FailurePolicy::kFailFast, FailurePolicy::kCollectAll}) {
    Call call(2, 2, policy);
    std::vector<size_t> during_begin;
    std::thread::id callback_thread;
    call.recorder.on_result = [&](size_t index) {
      during_begin.push_back(index);
      callback_thread = std::this_thread::get_id();
    };
    call.fake.on_start = [&](size_t) {
      // No callback runs inside Begin, on the caller's thread.
      EXPECT_TRUE(during_begin.empty());
    };
    EXPECT_TRUE(BeginAndDeliver(*call.coordinator, {false, true}));
    EXPECT_EQ(during_begin, (std::vector<size_t>{0, 1}));
    EXPECT_NE(callback_thread, std::this_thread::get_id());
    EXPECT_EQ(call.fake.starts(0), 0);
    EXPECT_EQ(call.fake.starts(1), 1);
    for (const absl::Status& s : call.recorder.statuses) {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    }
    EXPECT_FALSE(call.coordinator->done());
    if (policy == FailurePolicy::kFailFast) {
      // Fail-fast tripped in Begin: the part starts cancelled.
      EXPECT_EQ(call.fake.log(),
                (std::vector<std::string>{"cancel 1", "start 1"}));
    } else {
      EXPECT_EQ(call.fake.log(), (std::vector<std::string>{"start 1"}));
    }
    EXPECT_EQ(call.coordinator->OnPartDone(1, absl::CancelledError("c")),
              AfterReaction::kKeep);
    EXPECT_EQ(call.coordinator->Wait().status.code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

TEST(GatherCoordinator, WithNoPartToStartTheCallEndsOffTheCallersThread) {
  Call call(2, 1, FailurePolicy::kCollectAll);
  ASSERT_TRUE(call.coordinator->Begin({false, false}));
  EXPECT_FALSE(call.coordinator->done());  // on_done waits for a thread
  EXPECT_EQ(call.recorder.done_calls, 0);
  std::thread([&] {
    EXPECT_EQ(call.coordinator->DeliverDeferred(), AfterReaction::kKeep);
  }).join();
  EXPECT_TRUE(call.coordinator->done());
  EXPECT_EQ(call.recorder.done_calls, 1);
  EXPECT_NE(call.recorder.done_thread, std::this_thread::get_id());
  EXPECT_EQ(call.fake.starts(0) + call.fake.starts(1), 0);
  EXPECT_EQ(call.fake.total_cancels(), 0);
  EXPECT_FALSE(call.coordinator->DetachIfInCallback());  // at once
}

TEST(GatherCoordinator, AnEmptyBatchEndsAtOnce) {
  Call call(0, 0, FailurePolicy::kFailFast);
  EXPECT_TRUE(BeginAndDeliver(*call.coordinator, {}));
  EXPECT_TRUE(call.coordinator->done());
  EXPECT_TRUE(call.coordinator->Wait().status.ok());
  EXPECT_EQ(call.recorder.done_calls, 1);
}

TEST(GatherCoordinator, APartMayEndInsideItsStart) {
  Call call(2, 1, FailurePolicy::kCollectAll);
  call.fake.on_start = [&](size_t part) {
    EXPECT_EQ(call.coordinator->OnPartDone(
                  part, absl::UnavailableError("no route to host")),
              AfterReaction::kKeep);
  };
  ASSERT_TRUE(call.coordinator->Begin({true, true}));
  // Its callbacks wait for another thread.
  EXPECT_TRUE(call.recorder.results.empty());
  EXPECT_FALSE(call.coordinator->done());
  std::thread([&] {
    EXPECT_EQ(call.coordinator->DeliverDeferred(), AfterReaction::kKeep);
  }).join();
  EXPECT_TRUE(call.coordinator->done());
  EXPECT_NE(call.recorder.done_thread, std::this_thread::get_id());
  EXPECT_FALSE(call.recorder.overlapped);
  EXPECT_EQ(call.coordinator->Wait().status.code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(call.recorder.results, (std::vector<size_t>{0, 1}));
}

}  // namespace
}  // namespace batchexec
