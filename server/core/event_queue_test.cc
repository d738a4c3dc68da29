#include "server/core/event_queue.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

// Late enough that whatever waits is due; early enough that nothing is.
absl::Time Later() { return absl::Now() + absl::Seconds(10); }
absl::Time Earlier() { return absl::Now() - absl::Seconds(10); }

v1::Progress SomeProgress(uint32_t completed) {
  v1::Progress p;
  p.set_total(1'000'000);
  p.set_completed(completed);
  return p;
}

// Writes a result of task `index` with a payload of `payload_bytes`, as a
// batch does, and returns its serialized size.
size_t Produce(EventQueue& queue, uint32_t index, size_t payload_bytes,
               const std::string& id = "") {
  v1::TaskResult* r = queue.NewResult();
  r->set_index(index);
  r->set_id(id);
  r->mutable_status();
  r->mutable_finished_after()->set_nanos(1000);
  r->set_payload(std::string(payload_bytes, 'p'));
  const size_t size = r->ByteSizeLong();
  queue.OnResult(r, SizeResult(*r), SomeProgress(index + 1));
  return size;
}

// Takes every event that is due (as of `now`) until the queue waits.
std::vector<v1::ExecuteEvent> Drain(EventQueue& queue, absl::Time now = Later(),
                                    bool* end = nullptr,
                                    int* resumes = nullptr) {
  std::vector<v1::ExecuteEvent> events;
  while (true) {
    EventQueue::Step step = queue.Take(now);
    if (resumes != nullptr) *resumes += step.resume;
    if (!step.event) {
      if (end != nullptr) *end = step.end;
      return events;
    }
    EXPECT_LE(step.event->message().ByteSizeLong(),
              static_cast<size_t>(kMaxExecuteEventBytes));
    events.push_back(step.event->message());
  }
}

// The results of `events`, in stream order.
std::vector<v1::TaskResult> Results(const std::vector<v1::ExecuteEvent>& es) {
  std::vector<v1::TaskResult> out;
  for (const auto& e : es) {
    for (const auto& r : e.results().results()) out.push_back(r);
  }
  return out;
}

int ChunkCount(const std::vector<v1::ExecuteEvent>& events) {
  return std::count_if(events.begin(), events.end(),
                       [](const auto& e) { return e.has_results(); });
}

// Produce, for a queue that charges its results (ChargeTo): the result is
// held first, as a batch does; false if the queue refused it.
bool ProduceHeld(EventQueue& queue, uint32_t index, size_t payload_bytes) {
  v1::TaskResult* r = queue.NewResult();
  r->set_index(index);
  r->mutable_status();
  r->set_payload(std::string(payload_bytes, 'p'));
  ResultFit fit = SizeResult(*r);
  const bool held = queue.Hold(fit).ok();
  if (!held) {
    r->clear_payload();
    r->mutable_status()->set_code(8);
    fit = SizeResult(*r);
    EXPECT_TRUE(queue.Hold(fit).ok());
  }
  queue.OnResult(r, fit, SomeProgress(index + 1));
  return held;
}

TEST(EventQueue, ChargesUnsentResultsToTheCallerUntilTheyAreSent) {
  MemoryBudget budget(int64_t{1} << 30, int64_t{1} << 30);
  {
    EventQueue queue;
    queue.ChargeTo(*budget.TryReserve("a", 0));
    queue.Accept(v1::Accepted());
    for (uint32_t i = 0; i < 8; ++i) {
      ASSERT_TRUE(ProduceHeld(queue, i, 300'000));
    }
    // Each result beyond its task's reserve, all unsent.
    EXPECT_GE(queue.charged_bytes(), 8 * (300'000 - kReservedBytesPerTask));
    EXPECT_GE(budget.in_use("a"), queue.charged_bytes());
    std::vector<v1::ExecuteEvent> events = Drain(queue);
    EXPECT_EQ(Results(events).size(), 8u);
    EXPECT_EQ(queue.charged_bytes(), 0);
    EXPECT_LE(budget.in_use("a"), 2 * kResultChargeStep);  // a spare step
  }
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(EventQueue, RefusesAResultPastTheCallersShareAndTakesItOnceSent) {
  MemoryBudget budget(int64_t{1} << 30, 1 << 20);
  EventQueue queue;
  queue.ChargeTo(*budget.TryReserve("a", 0));
  queue.Accept(v1::Accepted());
  ASSERT_TRUE(ProduceHeld(queue, 0, 400'000));
  ASSERT_TRUE(ProduceHeld(queue, 1, 400'000));
  EXPECT_FALSE(ProduceHeld(queue, 2, 400'000));  // 1.2 MB > 1 MiB
  Drain(queue);
  EXPECT_EQ(queue.charged_bytes(), 0);
  EXPECT_TRUE(ProduceHeld(queue, 3, 400'000));  // room again
}

TEST(EventQueue, DropReleasesTheChargeOfWhatIsQueued) {
  MemoryBudget budget(int64_t{1} << 30, int64_t{1} << 30);
  EventQueue queue;
  queue.ChargeTo(*budget.TryReserve("a", 0));
  queue.Accept(v1::Accepted());
  ASSERT_TRUE(ProduceHeld(queue, 0, 3 << 20));
  ASSERT_TRUE(ProduceHeld(queue, 1, 3 << 20));
  EXPECT_GT(queue.charged_bytes(), 5 << 20);
  queue.Drop();
  EXPECT_EQ(queue.charged_bytes(), 0);
  EXPECT_TRUE(ProduceHeld(queue, 2, 3 << 20));  // discarded: nothing held
  EXPECT_EQ(queue.charged_bytes(), 0);
  EXPECT_LE(budget.in_use("a"), 2 * kResultChargeStep);
}

TEST(EventQueue, SendsNothingBeforeAccepted) {
  EventQueue queue;
  Produce(queue, 0, 10);
  EXPECT_FALSE(queue.Take(Later()).event.has_value());
  queue.Accept(v1::Accepted());
  auto events = Drain(queue);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_accepted());
  EXPECT_EQ(events[1].results().results_size(), 1);
}

TEST(EventQueue, SmallResultsShareOneChunkThenSummaryThenEnd) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  for (uint32_t i = 0; i < 10; ++i) Produce(queue, i, 100);
  v1::Summary summary;
  summary.set_succeeded(10);
  queue.OnBatchDone(summary);
  bool end = false;
  auto events = Drain(queue, Later(), &end);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].has_accepted());
  EXPECT_EQ(events[1].results().results_size(), 10);
  EXPECT_EQ(events[1].results().progress().completed(), 10u);
  EXPECT_EQ(events[2].summary().succeeded(), 10u);
  EXPECT_TRUE(end);
}

// The writer decides where to serialize by an event's bytes(): a chunk's
// results as they go out (framing aside), a small event's 0.
TEST(EventQueue, AnEventSaysHowManyBytesItsResultsTake) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  EventQueue::Step accepted = queue.Take(Later());
  ASSERT_TRUE(accepted.event.has_value());
  EXPECT_EQ(accepted.event->bytes(), 0);
  for (uint32_t i = 0; i < 10; ++i) Produce(queue, i, 10'000);
  EventQueue::Step chunk = queue.Take(Later());
  ASSERT_TRUE(chunk.event.has_value());
  const int64_t serialized =
      static_cast<int64_t>(chunk.event->message().ByteSizeLong());
  EXPECT_GT(chunk.event->bytes(), 100'000);
  EXPECT_LE(chunk.event->bytes(), serialized);
  EXPECT_GE(chunk.event->bytes() + 64, serialized);
}

TEST(EventQueue, ResultsWaitForTheFlushIntervalUnlessDue) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 10);
  EventQueue::Step early = queue.Take(Earlier());
  EXPECT_FALSE(early.event.has_value());
  EXPECT_FALSE(early.end);
  EXPECT_NE(early.wake, absl::InfiniteFuture());
  EXPECT_EQ(queue.Take(early.wake).event->message().results().results_size(),
            1);
}

TEST(EventQueue, ProgressGoesAloneOnlyWhenNoResultCarriesIt) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  queue.OnProgress(SomeProgress(0));
  auto events = Drain(queue);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_progress());
  queue.OnProgress(SomeProgress(0));
  Produce(queue, 0, 10);
  events = Drain(queue);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_results());
}

TEST(EventQueue, ClosesAChunkBeforeAResultThatWouldOverflowIt) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 600'000);
  Produce(queue, 1, 600'000);
  Produce(queue, 2, 100);
  auto events = Drain(queue);
  // The chunk result 1 overflowed into shares the first one's arena, and
  // takes nothing more: result 2 starts a chunk of its own.
  ASSERT_EQ(ChunkCount(events), 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(events[i].results().results_size(), 1);
    EXPECT_EQ(events[i].results().results(0).index(), static_cast<uint32_t>(i));
  }
  EXPECT_EQ(events[1].results().results(0).payload().size(), 600'000u);
  EXPECT_EQ(queue.unsent_bytes(), 0);
}

TEST(EventQueue, SendsAResultLargerThanAChunkAlone) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 100);
  Produce(queue, 1, 2'500'000);
  Produce(queue, 2, 100);
  auto events = Drain(queue);
  ASSERT_EQ(ChunkCount(events), 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(events[i].results().results_size(), 1);
    EXPECT_EQ(events[i].results().results(0).index(), static_cast<uint32_t>(i));
  }
  EXPECT_EQ(events[1].results().results(0).payload().size(), 2'500'000u);
}

// A result of exactly `size` serialized bytes (with a payload).
void ProduceExactly(EventQueue& queue, uint32_t index, size_t size) {
  v1::TaskResult r;
  r.set_index(index);
  r.mutable_finished_after()->set_seconds(1);
  size_t payload = size;
  while (true) {
    r.set_payload(std::string(payload, 'p'));
    const size_t got = r.ByteSizeLong();
    if (got == size) break;
    payload = payload + size - got;
  }
  v1::TaskResult* slot = queue.NewResult();
  *slot = r;
  // The largest progress there is: the most framing around the result.
  v1::Progress progress;
  progress.set_total(UINT32_MAX);
  progress.set_completed(UINT32_MAX);
  progress.set_failed(UINT32_MAX);
  progress.set_running(UINT32_MAX);
  progress.set_queued(UINT32_MAX);
  queue.OnResult(slot, SizeResult(*slot), progress);
}

TEST(EventQueue, SendsAResultOfExactlyTheLimitWithin4MiB) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  ProduceExactly(queue, 0, 10);
  ProduceExactly(queue, 1, kMaxStreamedResultBytes);
  auto events = Drain(queue);  // checks every message's size
  auto results = Results(events);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status().code(), 0);
  EXPECT_EQ(results[1].ByteSizeLong(),
            static_cast<size_t>(kMaxStreamedResultBytes));
}

TEST(EventQueue, ReplacesAResultOneByteOverTheLimit) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  ProduceExactly(queue, 0, kMaxStreamedResultBytes + 1);
  auto results = Results(Drain(queue));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
}

TEST(EventQueue, ReplacesAnOversizeResultNamingItsSizeAndTheLimit) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 100);
  const size_t size = Produce(queue, 7, 5'000'000, "big-one");
  Produce(queue, 2, 100);
  auto events = Drain(queue);
  auto results = Results(events);
  ASSERT_EQ(results.size(), 3u);
  const v1::TaskResult& big = results[1];
  EXPECT_EQ(big.index(), 7u);
  EXPECT_EQ(big.id(), "big-one");
  EXPECT_EQ(big.finished_after().nanos(), 1000);
  EXPECT_TRUE(big.payload().empty());
  EXPECT_FALSE(big.has_output());
  EXPECT_EQ(big.status().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_NE(big.status().message().find(absl::StrCat(size, " bytes")),
            std::string::npos)
      << big.status().message();
  EXPECT_NE(big.status().message().find(absl::StrCat(kMaxStreamedResultBytes)),
            std::string::npos)
      << big.status().message();
  EXPECT_EQ(results[0].status().code(), 0);
  EXPECT_EQ(results[2].status().code(), 0);
  EXPECT_EQ(queue.unsent_bytes(), 0);
}

TEST(EventQueue, DropsTheIdOfAResultWhoseIdAloneIsTooLarge) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 3, 10, std::string(kMaxExecuteEventBytes, 'i'));
  auto results = Results(Drain(queue));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].index(), 3u);
  EXPECT_TRUE(results[0].id().empty());
  EXPECT_EQ(results[0].status().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
}

TEST(EventQueue, PausesAfterTooManyUnsentResultsAndResumesOnceDrained) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  for (uint32_t i = 0; i + 1 < kMaxUnsentResults; ++i) Produce(queue, i, 1);
  EXPECT_FALSE(queue.Backlogged());
  Produce(queue, kMaxUnsentResults, 1);
  EXPECT_TRUE(queue.Backlogged());
  int resumes = 0;
  Drain(queue, Later(), nullptr, &resumes);
  EXPECT_FALSE(queue.Backlogged());
  EXPECT_EQ(resumes, 1);
  Drain(queue, Later(), nullptr, &resumes);
  EXPECT_EQ(resumes, 1);  // once per pause
}

TEST(EventQueue, PausesAfterTooManyUnsentBytes) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  constexpr size_t kResult = 1'000'000;
  for (uint32_t i = 0; i < kMaxUnsentBytes / kResult - 1; ++i) {
    Produce(queue, i, kResult);
  }
  EXPECT_FALSE(queue.Backlogged());
  Produce(queue, 99, kResult);
  Produce(queue, 100, kResult);
  EXPECT_TRUE(queue.Backlogged());
  EXPECT_LT(queue.unsent_results(), kMaxUnsentResults);
  int resumes = 0;
  Drain(queue, Later(), nullptr, &resumes);
  EXPECT_FALSE(queue.Backlogged());
  EXPECT_EQ(resumes, 1);
}

TEST(EventQueue, CountsAnOversizeResultTowardsTheBacklogUntilSent) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, kMaxUnsentBytes);  // stays on its chunk's arena
  EXPECT_TRUE(queue.Backlogged());
  Drain(queue);
  EXPECT_FALSE(queue.Backlogged());
  EXPECT_EQ(queue.unsent_bytes(), 0);
}

TEST(EventQueue, DropForgetsWhatIsQueuedAndDiscardsWhatComes) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 100);
  queue.Drop();
  Produce(queue, 1, 100);
  EXPECT_EQ(queue.unsent_results(), 0);
  EventQueue::Step step = queue.Take(Later());
  EXPECT_FALSE(step.event.has_value());
  EXPECT_FALSE(step.end);
  queue.OnBatchDone(v1::Summary());
  step = queue.Take(Later());
  EXPECT_FALSE(step.event.has_value());
  EXPECT_TRUE(step.end);
}

TEST(EventQueue, DropWhileAResultIsWrittenDropsItWhenComplete) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 100);
  v1::TaskResult* r = queue.NewResult();
  queue.Drop();
  EXPECT_FALSE(queue.Take(Later()).event.has_value());
  r->set_index(1);
  r->set_payload("written after the drop");
  queue.OnResult(r, SizeResult(*r), SomeProgress(2));
  EXPECT_EQ(queue.unsent_results(), 0);
  EXPECT_EQ(queue.unsent_bytes(), 0);
}

TEST(EventQueue, KeepsTheChunkBeingWrittenUntilItsResultIsComplete) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Drain(queue);
  Produce(queue, 0, 100);
  v1::TaskResult* r = queue.NewResult();
  EXPECT_FALSE(queue.Take(Later()).event.has_value());
  r->set_index(1);
  queue.OnResult(r, SizeResult(*r), SomeProgress(2));
  auto results = Results(Drain(queue));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].index(), 1u);
}

// Random sizes from a few bytes to past the limit, with extra weight near
// the chunk and message limits.
size_t RandomSize(std::mt19937& rng) {
  std::uniform_int_distribution<int> kind(0, 9);
  switch (kind(rng)) {
    case 0:
      return std::uniform_int_distribution<size_t>(
          kMaxStreamedResultBytes - 100, kMaxStreamedResultBytes + 100)(rng);
    case 1:
      return std::uniform_int_distribution<size_t>(kMaxChunkBytes - 100,
                                                   kMaxChunkBytes + 100)(rng);
    case 2:
      return std::uniform_int_distribution<size_t>(
          kMaxStreamedResultBytes, 2 * kMaxExecuteEventBytes)(rng);
    default:  // log-uniform, 1 byte to 6 MB
      return static_cast<size_t>(
          std::exp(std::uniform_real_distribution<double>(0, 15.6)(rng)));
  }
}

// Property: whatever the sizes and however the writer's turns fall between
// results, every message fits in 4 MiB, every task gets exactly one result,
// results keep completion order, an oversize result (only it) becomes
// RESOURCE_EXHAUSTED naming its size and the limit, and the others arrive
// unchanged.
TEST(EventQueue, KeepsEveryMessageUnder4MiBWhateverTheResultSizes) {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937 rng(seed);
    EventQueue queue;
    queue.Accept(v1::Accepted());
    const int count = std::uniform_int_distribution<int>(1, 40)(rng);
    // Completion order: a random permutation of the indexes.
    std::vector<uint32_t> order(count);
    for (int i = 0; i < count; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<size_t> sizes(count);  // serialized, by index
    std::vector<size_t> data(count);   // payload or output bytes, by index
    std::vector<v1::ExecuteEvent> events;
    for (int n = 0; n < count; ++n) {
      const uint32_t index = order[n];
      data[index] = RandomSize(rng);
      v1::TaskResult* r = queue.NewResult();
      r->set_index(index);
      r->set_id(absl::StrCat("task-", index));
      r->mutable_status();
      r->mutable_started_after()->set_seconds(index);
      if (index % 2 == 0) {
        r->set_payload(std::string(data[index], 'p'));
      } else {
        (*r->mutable_output()->mutable_struct_value()->mutable_fields())["s"]
            .set_string_value(std::string(data[index], 'o'));
      }
      sizes[index] = r->ByteSizeLong();
      v1::Progress progress;
      progress.set_total(count);
      progress.set_completed(n + 1);
      progress.set_running(count - n - 1);
      queue.OnResult(r, SizeResult(*r), progress);
      // The writer takes its turn at random moments.
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
        auto more = Drain(queue, std::uniform_int_distribution<int>(0, 1)(rng)
                                     ? Later()
                                     : Earlier());
        events.insert(events.end(), more.begin(), more.end());
      }
    }
    queue.OnBatchDone(v1::Summary());
    bool end = false;
    auto rest = Drain(queue, Earlier(), &end);  // done: everything is due
    events.insert(events.end(), rest.begin(), rest.end());
    EXPECT_TRUE(end);
    ASSERT_FALSE(events.empty());
    EXPECT_TRUE(events.front().has_accepted());
    EXPECT_TRUE(events.back().has_summary());

    for (const auto& e : events) {
      EXPECT_LE(e.SerializeAsString().size(),
                static_cast<size_t>(kMaxExecuteEventBytes));
    }
    std::vector<v1::TaskResult> results = Results(events);
    ASSERT_EQ(results.size(), static_cast<size_t>(count));
    for (int n = 0; n < count; ++n) {
      const v1::TaskResult& r = results[n];
      const uint32_t index = order[n];
      ASSERT_EQ(r.index(), index) << "result " << n << " out of order";
      EXPECT_EQ(r.id(), absl::StrCat("task-", index));
      EXPECT_EQ(r.started_after().seconds(), index);
      if (sizes[index] > static_cast<size_t>(kMaxStreamedResultBytes)) {
        EXPECT_EQ(r.status().code(),
                  static_cast<int>(absl::StatusCode::kResourceExhausted));
        EXPECT_NE(
            r.status().message().find(absl::StrCat(sizes[index], " bytes")),
            std::string::npos)
            << r.status().message();
        EXPECT_NE(
            r.status().message().find(absl::StrCat(kMaxStreamedResultBytes)),
            std::string::npos);
        EXPECT_TRUE(r.payload().empty());
        EXPECT_FALSE(r.has_output());
      } else {
        EXPECT_EQ(r.status().code(), 0) << r.status().message();
        EXPECT_EQ(r.ByteSizeLong(), sizes[index]);
        EXPECT_EQ(index % 2 == 0 ? r.payload().size()
                                 : r.output()
                                       .struct_value()
                                       .fields()
                                       .at("s")
                                       .string_value()
                                       .size(),
                  data[index]);
      }
    }
    EXPECT_EQ(queue.unsent_results(), 0);
    EXPECT_EQ(queue.unsent_bytes(), 0);
  }
}

// Several producers (serialized by a "batch lock", as the batch's are) and
// one slow writer on its own thread; the producers pause while the queue is
// backlogged and go on when the writer's Take says to resume. Returns how
// often they paused.
int RunConcurrently(int producers, int per_producer, size_t max_bytes,
                    absl::Duration write_time) {
  EventQueue queue;
  queue.Accept(v1::Accepted());
  Mutex batch_mu;  // the batch's lock
  uint32_t next_seq = 0;
  int finished_producers = 0;
  bool paused = false;
  int pauses = 0;

  std::vector<v1::ExecuteEvent> events;
  int resumes = 0;
  std::thread writer([&] {
    while (true) {
      EventQueue::Step step = queue.Take(absl::Now());
      if (step.resume) {
        ++resumes;
        MutexLock lock(&batch_mu);
        paused = false;
      }
      if (step.event) {
        EXPECT_LE(step.event->message().ByteSizeLong(),
                  static_cast<size_t>(kMaxExecuteEventBytes));
        events.push_back(step.event->message());
        absl::SleepFor(write_time);
      } else if (step.end) {
        return;
      } else {
        absl::SleepFor(absl::Microseconds(50));
      }
    }
  });

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(p + 1);
      for (int i = 0; i < per_producer; ++i) {
        const size_t bytes =
            static_cast<size_t>(std::exp(std::uniform_real_distribution<double>(
                0, std::log(max_bytes))(rng)));
        MutexLock lock(&batch_mu);
        // The batch starts no task while paused.
        auto running = [&] { return !paused; };
        ASSERT_TRUE(batch_mu.AwaitWithTimeout(absl::Condition(&running),
                                              absl::Seconds(60)))
            << "never resumed";
        const uint32_t seq = next_seq++;
        v1::TaskResult* r = queue.NewResult();
        r->set_index(seq);
        r->set_payload(std::string(bytes, 'p'));
        queue.OnResult(r, SizeResult(*r), SomeProgress(seq + 1));
        if (queue.Backlogged() && !paused) {
          paused = true;
          ++pauses;
        }
        if (i % 16 == 0) queue.OnProgress(SomeProgress(seq + 1));
      }
      MutexLock lock(&batch_mu);
      if (++finished_producers == producers) queue.OnBatchDone(v1::Summary());
    });
  }
  for (auto& t : threads) t.join();
  writer.join();

  std::vector<v1::TaskResult> results = Results(events);
  EXPECT_EQ(results.size(), static_cast<size_t>(producers * per_producer));
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].index(), i) << "completion order";
    if (results[i].index() != i) break;
  }
  EXPECT_TRUE(events.back().has_summary());
  // Every pause was resumed (the writer may also resume a pause the
  // producers had not seen yet).
  EXPECT_GE(resumes, pauses);
  return pauses;
}

TEST(EventQueue, ManyTinyResultsFromSeveralThreadsArriveInOrder) {
  RunConcurrently(/*producers=*/4, /*per_producer=*/5000, /*max_bytes=*/64,
                  /*write_time=*/absl::Milliseconds(1));
}

TEST(EventQueue, LargeResultsFromSeveralThreadsPauseByBytesAndArriveInOrder) {
  EXPECT_GT(RunConcurrently(/*producers=*/4, /*per_producer=*/60,
                            /*max_bytes=*/3'000'000,
                            /*write_time=*/absl::Milliseconds(5)),
            0);
}

}  // namespace
}  // namespace batchexec
