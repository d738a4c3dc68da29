#include "client/internal/result_merger.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "batchexec/v1/batch.pb.h"
#include "client/gather_options.h"
#include "client/internal/test_events.h"
#include "client/progress.h"
#include "client/task_output.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::batchexec::testing::Chunk;
using ::batchexec::testing::ServerProgress;
using Update = ResultMerger::Update;

// Three servers: tasks 0..1 on "a", 2..4 on "b", 5..6 on "c".
std::vector<ResultMerger::PartLayout> ThreeParts() {
  return {{0, 2, "a"}, {2, 3, "b"}, {5, 2, "c"}};
}

v1::TaskResult Succeeded(uint32_t index, const std::string& id) {
  v1::TaskResult result;
  result.set_index(index);
  result.set_id(id);
  result.mutable_output()->set_string_value(id);
  return result;
}

v1::TaskResult Failed(uint32_t index, const std::string& id,
                      absl::StatusCode code, const std::string& message) {
  v1::TaskResult result;
  result.set_index(index);
  result.set_id(id);
  result.mutable_status()->set_code(static_cast<int>(code));
  result.mutable_status()->set_message(message);
  return result;
}

TEST(ResultMerger, PutsResultsInRequestOrderWhateverTheArrivalOrder) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update update;
  // Each part's own index, arriving out of order and interleaved.
  const std::vector<std::pair<size_t, uint32_t>> arrivals = {
      {2, 1}, {0, 1}, {1, 2}, {1, 0}, {2, 0}, {0, 0}, {1, 1}};
  for (const auto& [part, index] : arrivals) {
    const std::string id = absl::StrCat("p", part, "t", index);
    ASSERT_TRUE(merger.AddResult(part, Succeeded(index, id), update).ok());
  }
  EXPECT_EQ(update.recorded, (std::vector<size_t>{6, 1, 4, 2, 5, 0, 3}));

  GatherResult result = merger.TakeResult();
  EXPECT_TRUE(result.status.ok()) << result.status;
  const std::vector<std::string> ids = {"p0t0", "p0t1", "p1t0", "p1t1",
                                        "p1t2", "p2t0", "p2t1"};
  ASSERT_EQ(result.results.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(result.results[i].ok()) << i;
    EXPECT_EQ(result.results[i]->index, i);
    EXPECT_EQ(result.results[i]->id, ids[i]);
  }
  EXPECT_EQ(result.progress.completed, 7u);
}

TEST(ResultMerger, RejectsADuplicateResultAndKeepsTheFirst) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update first;
  ASSERT_TRUE(merger.AddResult(1, Succeeded(0, "first"), first).ok());

  Update second;
  absl::Status status = merger.AddResult(
      1, Failed(0, "second", absl::StatusCode::kInternal, "again"), second);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(status.message().find("b: the server sent a second result for "
                                  "task 2"),
            std::string::npos)
      << status;
  EXPECT_TRUE(second.recorded.empty());
  EXPECT_EQ(second.progress.completed, 1u);
  EXPECT_EQ(second.progress.failed, 0u);
  ASSERT_TRUE(merger.recorded_result(2).ok());
  EXPECT_EQ(merger.recorded_result(2)->id, "first");
}

TEST(ResultMerger, RejectsAnIndexOutsideItsPartWithoutTouchingTheNextPart) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update update;
  // Part "a" has two tasks; its index 2 would be part "b"'s first task.
  absl::Status status = merger.AddResult(0, Succeeded(2, "stray"), update);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("task index 2 of a part of 2 tasks"),
            std::string::npos)
      << status;
  EXPECT_TRUE(update.recorded.empty());
  EXPECT_EQ(update.progress.completed, 0u);

  // Task 2 is still part "b"'s to report.
  ASSERT_TRUE(merger.AddResult(1, Succeeded(0, "real"), update).ok());
  ASSERT_TRUE(merger.recorded_result(2).ok());
  EXPECT_EQ(merger.recorded_result(2)->id, "real");
}

TEST(ResultMerger, NamesARejectedResultInTheFailureOfTheTaskItLeftWithout) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update update;
  ASSERT_TRUE(merger.AddResult(0, Succeeded(0, "x"), update).ok());
  ASSERT_FALSE(merger.AddResult(0, Succeeded(7, "y"), update).ok());
  merger.EndPart(0, absl::OkStatus(), update);

  const absl::StatusOr<TaskOutput>& missing = merger.recorded_result(1);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(missing.status().message().find("without this task's result"),
            std::string::npos);
  EXPECT_NE(missing.status().message().find("task index 7"), std::string::npos)
      << missing.status();
}

TEST(ResultMerger, SumsProgressAcrossParts) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Progress start = merger.progress();
  EXPECT_EQ(start.total, 7u);
  EXPECT_EQ(start.queued, 7u);  // no server has reported: all not admitted
  EXPECT_EQ(start.running, 0u);

  Update update;
  v1::ExecuteEvent a = ServerProgress(/*running=*/1, /*queued=*/1);
  merger.AddEvent(0, a, update);
  v1::ExecuteEvent b = Chunk({Succeeded(0, "b0")}, /*running=*/2,
                             /*queued=*/0);
  merger.AddEvent(1, b, update);
  Progress mid = update.progress;
  EXPECT_EQ(mid.completed, 1u);
  EXPECT_EQ(mid.running, 1u + 2u);
  EXPECT_EQ(mid.queued, 1u + 0u + 2u);  // "c" unheard: both its tasks
  EXPECT_EQ(merger.progress(), mid);

  // An ended part's server counts no longer apply.
  merger.EndPart(1, absl::UnavailableError("gone"), update);
  EXPECT_EQ(update.progress.completed, 3u);
  EXPECT_EQ(update.progress.failed, 2u);
  EXPECT_EQ(update.progress.running, 1u);
  EXPECT_EQ(update.progress.queued, 1u + 2u);
}

TEST(ResultMerger, FailFastTripsOnTheFirstFailureAndExplainsTheCancellations) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kFailFast);
  Update ok;
  ASSERT_TRUE(merger.AddResult(0, Succeeded(0, "fine"), ok).ok());
  EXPECT_FALSE(ok.cancel_other_parts);

  Update first;
  ASSERT_TRUE(
      merger
          .AddResult(
              1, Failed(1, "bad", absl::StatusCode::kNotFound, "no such file"),
              first)
          .ok());
  EXPECT_TRUE(first.cancel_other_parts);

  Update second;
  ASSERT_TRUE(
      merger
          .AddResult(2, Failed(0, "worse", absl::StatusCode::kInternal, "boom"),
                     second)
          .ok());
  EXPECT_FALSE(second.cancel_other_parts);  // only once

  Update ended;
  merger.EndPart(0, absl::CancelledError("Cancelled"), ended);
  EXPECT_EQ(ended.recorded, std::vector<size_t>{1});
  EXPECT_EQ(
      merger.recorded_result(1).status(),
      absl::CancelledError(
          "tasks 0..1 on a: cancelled: another task of the batch failed"));

  GatherResult result = merger.TakeResult();
  EXPECT_EQ(result.status,
            absl::NotFoundError("task 3 (id \"bad\") failed: no such file"));
}

TEST(ResultMerger, CollectAllReportsTheFirstFailureButCancelsNothing) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update update;
  ASSERT_TRUE(merger
                  .AddResult(2,
                             Failed(1, "", absl::StatusCode::kUnknown, "first"),
                             update)
                  .ok());
  ASSERT_TRUE(
      merger
          .AddResult(0, Failed(0, "", absl::StatusCode::kInternal, "second"),
                     update)
          .ok());
  EXPECT_FALSE(update.cancel_other_parts);
  EXPECT_EQ(merger.TakeResult().status,
            absl::UnknownError("task 6 failed: first"));
}

TEST(ResultMerger, FailFastWithOnePartHasNoOtherPartToCancel) {
  ResultMerger merger({{0, 3, ""}}, FailurePolicy::kFailFast);
  Update update;
  ASSERT_TRUE(
      merger
          .AddResult(0, Failed(0, "", absl::StatusCode::kInternal, "x"), update)
          .ok());
  EXPECT_FALSE(update.cancel_other_parts);
}

TEST(ResultMerger, APartEndingEarlyFillsOnlyItsTasksWithoutAResult) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update update;
  ASSERT_TRUE(merger.AddResult(1, Succeeded(1, "kept"), update).ok());
  ASSERT_TRUE(merger.AddResult(0, Succeeded(0, "other"), update).ok());

  Update ended;
  merger.EndPart(1, absl::UnavailableError("connection reset"), ended);
  EXPECT_EQ(ended.recorded, (std::vector<size_t>{2, 4}));
  const absl::Status call_failure =
      absl::UnavailableError("tasks 2..4 on b: connection reset");
  EXPECT_EQ(merger.recorded_result(2).status(), call_failure);
  EXPECT_EQ(merger.recorded_result(3)->id, "kept");
  EXPECT_EQ(merger.recorded_result(4).status(), call_failure);
  EXPECT_EQ(ended.progress.completed, 4u);

  GatherResult result = merger.TakeResult();
  // The other parts' tasks without a result are untouched.
  EXPECT_EQ(result.results[1].status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(result.results[5].status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(result.status, call_failure);  // the call's, not "task 2 failed"
}

TEST(ResultMerger, APartEndingOkOwesItsMissingTasksAnInternalFailure) {
  ResultMerger merger({{0, 2, ""}}, FailurePolicy::kCollectAll);
  Update update;
  ASSERT_TRUE(merger.AddResult(0, Succeeded(0, "done"), update).ok());
  merger.EndPart(0, absl::OkStatus(), update);
  EXPECT_EQ(merger.recorded_result(1).status(),
            absl::InternalError(
                "the server ended the call without this task's result"));
  EXPECT_EQ(merger.TakeResult().status,
            absl::InternalError("task 1 failed: the server ended the call "
                                "without this task's result"));
}

TEST(ResultMerger, FailPartUsesTheGivenStatusAsItIs) {
  ResultMerger merger(ThreeParts(), FailurePolicy::kCollectAll);
  Update update;
  const absl::Status why = absl::FailedPreconditionError("no channel");
  merger.FailPart(2, why, update);
  EXPECT_EQ(update.recorded, (std::vector<size_t>{5, 6}));
  EXPECT_EQ(merger.recorded_result(5).status(), why);
  EXPECT_EQ(update.progress.queued, 2u + 3u);  // "c" no longer counts
}

TEST(ResultMerger, CallerCancellationIsTheStatusWhenNothingElseFailed) {
  ResultMerger merger({{0, 2, ""}}, FailurePolicy::kFailFast);
  Update update;
  ASSERT_TRUE(merger.AddResult(0, Succeeded(0, "ok"), update).ok());
  merger.CancelledByCaller();
  merger.EndPart(0, absl::CancelledError("Cancelled"), update);
  EXPECT_EQ(merger.recorded_result(1).status(),
            absl::CancelledError("cancelled by the caller"));
  EXPECT_EQ(merger.TakeResult().status,
            absl::CancelledError("cancelled by the caller"));
}

TEST(ResultMerger, ADeadlineSaysItWasTheCallsDeadline) {
  ResultMerger merger({{0, 1, ""}}, FailurePolicy::kCollectAll);
  Update update;
  merger.EndPart(0, absl::DeadlineExceededError("Deadline Exceeded"), update);
  EXPECT_EQ(merger.TakeResult().status,
            absl::DeadlineExceededError(
                "call deadline exceeded (Deadline Exceeded)"));
}

TEST(ResultMerger, TakesConcurrentPartsWhileAnotherThreadReadsProgress) {
  constexpr size_t kParts = 4;
  constexpr uint32_t kTasksPerPart = 300;
  constexpr uint32_t kChunk = 7;
  std::vector<ResultMerger::PartLayout> layout;
  for (size_t p = 0; p < kParts; ++p) {
    layout.push_back({p * kTasksPerPart, kTasksPerPart, absl::StrCat(p)});
  }
  ResultMerger merger(std::move(layout), FailurePolicy::kCollectAll);

  std::atomic<bool> producing{true};
  std::thread reader([&] {
    size_t last_completed = 0;
    while (producing.load()) {
      Progress p = merger.progress();
      EXPECT_GE(p.completed, last_completed);
      EXPECT_LE(p.failed, p.completed);
      EXPECT_LE(p.completed, p.total);
      last_completed = p.completed;
    }
  });

  // One producer per part, as gRPC runs one reaction per stream at a time:
  // results back to front in chunks, every odd task failing, each chunk
  // repeating a result the part already sent.
  std::vector<std::thread> producers;
  std::vector<size_t> rejected(kParts, 0);
  for (size_t part = 0; part < kParts; ++part) {
    producers.emplace_back([&merger, &rejected, part] {
      uint32_t next = kTasksPerPart;
      while (next > 0) {
        std::vector<v1::TaskResult> results;
        const uint32_t begin = next >= kChunk ? next - kChunk : 0;
        for (uint32_t i = next; i-- > begin;) {
          results.push_back(i % 2 == 0
                                ? Succeeded(i, absl::StrCat(i))
                                : Failed(i, absl::StrCat(i),
                                         absl::StatusCode::kAborted, "odd"));
        }
        if (next < kTasksPerPart) results.push_back(Succeeded(next, "dup"));
        v1::ExecuteEvent event = Chunk(std::move(results), /*running=*/1,
                                       /*queued=*/begin);
        Update update;
        merger.AddEvent(part, event, update);
        for (size_t index : update.recorded) {
          // Delivery reads what was recorded, outside the merger's lock.
          const absl::StatusOr<TaskOutput>& r = merger.recorded_result(index);
          EXPECT_EQ(r.ok(), (index - part * kTasksPerPart) % 2 == 0);
        }
        rejected[part] += next - begin + (next < kTasksPerPart ? 1 : 0) -
                          update.recorded.size();
        next = begin;
      }
      Update ended;
      merger.EndPart(part, absl::OkStatus(), ended);
      EXPECT_TRUE(ended.recorded.empty());
    });
  }
  for (std::thread& t : producers) t.join();
  producing.store(false);
  reader.join();

  for (size_t part = 0; part < kParts; ++part) {
    EXPECT_EQ(rejected[part], (kTasksPerPart + kChunk - 1) / kChunk - 1);
  }
  GatherResult result = merger.TakeResult();
  ASSERT_EQ(result.results.size(), kParts * kTasksPerPart);
  for (size_t i = 0; i < result.results.size(); ++i) {
    const uint32_t own = i % kTasksPerPart;
    if (own % 2 == 0) {
      ASSERT_TRUE(result.results[i].ok()) << i;
      EXPECT_EQ(result.results[i]->index, i);
      EXPECT_EQ(result.results[i]->id, absl::StrCat(own));
    } else {
      EXPECT_EQ(result.results[i].status().code(), absl::StatusCode::kAborted);
    }
  }
  EXPECT_EQ(result.progress.completed, kParts * kTasksPerPart);
  EXPECT_EQ(result.progress.failed, kParts * kTasksPerPart / 2);
  EXPECT_EQ(result.progress.running, 0u);
  EXPECT_EQ(result.progress.queued, 0u);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kAborted);
}

TEST(ResultMerger, ResultsOutliveTheArenaTheirEventWasParsedOnto) {
  // The SDK parses each stream message onto an arena that it empties before
  // the next read: what the merger keeps must not point into it.
  ResultMerger merger({{0, 1, ""}}, FailurePolicy::kCollectAll);
  Update update;
  {
    google::protobuf::Arena arena;
    auto* event =
        google::protobuf::Arena::CreateMessage<v1::ExecuteEvent>(&arena);
    v1::TaskResult* r = event->mutable_results()->add_results();
    r->set_index(0);
    r->set_id(std::string(100, 'i'));  // past the short-string buffer
    (*r->mutable_output()->mutable_struct_value()->mutable_fields())["k"]
        .set_string_value(std::string(100, 'v'));
    r->set_payload(std::string(100, 'p'));
    r->mutable_finished_after()->set_seconds(2);
    merger.AddEvent(0, *event, update);
  }
  GatherResult result = merger.TakeResult();
  ASSERT_EQ(result.results.size(), 1u);
  ASSERT_TRUE(result.results[0].ok()) << result.results[0].status();
  const TaskOutput& out = *result.results[0];
  EXPECT_EQ(out.id, std::string(100, 'i'));
  EXPECT_EQ(out.output.struct_value().fields().at("k").string_value(),
            std::string(100, 'v'));
  EXPECT_EQ(out.payload, std::string(100, 'p'));
  EXPECT_EQ(out.finished_after, absl::Seconds(2));
}

}  // namespace
}  // namespace batchexec
