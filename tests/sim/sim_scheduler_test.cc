#include "sim/sim_scheduler.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <limits>
#include <string>
#include <vector>

namespace pflab::sim {
namespace {

TEST_CASE("sim scheduler: events run in time order- ties in posting order", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> order;
  s.PostAt(30, [&] { order.push_back(3); });
  s.PostAt(10, [&] { order.push_back(1); });
  s.PostAt(20, [&] { order.push_back(20); });
  s.PostAt(10, [&] { order.push_back(2); });
  s.Run();
  CHECK(order == std::vector<int>{1, 2, 20, 3});
  CHECK(s.Now() == 30);
  CHECK(s.events_run() == 4);
}

TEST_CASE("sim scheduler: the clock stops before its horizon - TimeAfter saturates past it", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> order;
  s.PostAt(kTimeHorizon, [&] { order.push_back(1); });  // the horizon itself still runs
  const TimerId cancelled = s.PostAt(kTimeHorizon + 1, [&] { order.push_back(9); });
  s.PostAt(kTimeHorizon + 2, [&] { order.push_back(2); });
  CHECK(s.Cancel(cancelled));  // a cancelled task past the horizon does not stop the run
  CHECK(std::string(s.StopReason()).empty());
  s.Run();
  CHECK(order == std::vector<int>{1});
  CHECK(s.Now() == kTimeHorizon);
  CHECK_THAT(s.StopReason(), Catch::Contains("horizon of 2^62 ns (146 years)"));
  CHECK(s.pending() == 1);  // left, never run
  // Exact below the horizon (as the casts it replaces), cut just past it above, whatever the sum.
  CHECK(TimeAfter(5, 7.0) == 12);
  CHECK(TimeAfter(5, 7.9) == 12);
  CHECK(TimeAfter(kTimeHorizon - 10, 9.0) == kTimeHorizon - 1);
  CHECK(TimeAfter(kTimeHorizon - 10, 10.0) == kTimeHorizon + 1);
  CHECK(TimeAfter(kTimeHorizon, 1e300) == kTimeHorizon + 1);
  CHECK(TimeAfter(0, std::numeric_limits<double>::infinity()) == kTimeHorizon + 1);
}

TEST_CASE("sim scheduler: cancel before running- not after", "[sim][scheduler]") {
  SimScheduler s;
  int ran = 0;
  TimerId a = s.PostAt(5, [&] { ++ran; });
  TimerId b = s.PostAt(6, [&] { ++ran; });
  CHECK(s.Cancel(a));
  CHECK(!s.Cancel(a));
  CHECK(s.pending() == 1);
  s.Run();
  CHECK(ran == 1);
  CHECK(!s.Cancel(b));
  CHECK(!s.Cancel(0));
  // A slot reused by a new task is not cancelled through the old id.
  TimerId c = s.PostAt(7, [&] { ++ran; });
  CHECK(!s.Cancel(a));
  CHECK(s.Cancel(c));
}

TEST_CASE("sim scheduler: tasks posting tasks- past times run now- RunUntil stops at the deadline",
          "[sim][scheduler]") {
  SimScheduler s;
  std::vector<Nanos> at;
  s.PostAt(100, [&] {
    at.push_back(s.Now());
    s.PostAt(50, [&] { at.push_back(s.Now()); });  // in the past: runs at 100
    s.PostAfter(25, [&] { at.push_back(s.Now()); });
  });
  s.PostAt(1000, [&] { at.push_back(s.Now()); });
  s.RunUntil(500);
  CHECK(at == std::vector<Nanos>{100, 100, 125});
  CHECK(s.Now() == 500);
  s.Run();
  CHECK(at.back() == 1000);
}

TEST_CASE("sim scheduler: same-time tasks keep posting order across the heap and the now-queue", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<char> order;
  s.PostAt(10, [&] {
    order.push_back('A');
    s.Post([&] { order.push_back('D'); });  // posted at 10, after B and C were posted at 0
    s.PostAt(10, [&] { order.push_back('E'); });
  });
  s.PostAt(10, [&] { order.push_back('B'); });
  s.PostAt(10, [&] { order.push_back('C'); });
  s.Run();
  CHECK(order == std::vector<char>{'A', 'B', 'C', 'D', 'E'});
}

TEST_CASE("sim scheduler: a task can cancel another due at the same time", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> order;
  TimerId second = 0;
  s.PostAt(5, [&] {
    order.push_back(1);
    CHECK(s.Cancel(second));
  });
  second = s.PostAt(5, [&] { order.push_back(2); });
  s.PostAt(5, [&] { order.push_back(3); });
  s.Run();
  CHECK(order == std::vector<int>{1, 3});
  CHECK(s.pending() == 0);
  CHECK(!s.RunOne());
}

// A cancelled heap entry due now must not let a later heap entry overtake the tasks due now.
TEST_CASE("sim scheduler: a cancelled timer due now does not let the future run first", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> order;
  TimerId doomed = 0;
  s.PostAt(10, [&] {
    order.push_back(1);
    s.Cancel(doomed);                     // due at 10 too, still in the heap
    s.Post([&] { order.push_back(2); });  // due now: must run before the task at 20
  });
  doomed = s.PostAt(10, [&] { order.push_back(99); });
  s.PostAt(20, [&] { order.push_back(3); });
  s.Run();
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("sim scheduler: an idle task runs after everything due now, before the clock moves", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> order;
  TimerId doomed = 0;
  s.PostAt(10, [&] {
    order.push_back(1);
    s.PostIdle([&] {
      order.push_back(5);
      CHECK(s.Now() == 10);
      s.Post([&] { order.push_back(6); });  // due now: still before the future
    });
    s.PostIdle([&] { order.push_back(7); });  // idle tasks keep posting order
    s.Post([&] {
      order.push_back(3);
      s.Post([&] { order.push_back(4); });  // posted by a task due now: still before the idle one
    });
    s.Cancel(doomed);
  });
  s.PostAt(10, [&] { order.push_back(2); });
  doomed = s.PostAt(10, [&] { order.push_back(99); });
  s.PostAt(11, [&] { order.push_back(8); });
  s.RunUntil(10);
  CHECK(order == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
  CHECK(s.Now() == 10);
  CHECK(s.pending() == 1);
  s.Run();
  CHECK(order.back() == 8);
  CHECK(s.Now() == 11);
  CHECK(s.events_run() == 8);
}

TEST_CASE("sim scheduler: a turn is taken only when nothing else is due now", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> answers;
  s.PostAt(10, [&] {
    answers.push_back(s.TakeTurnNow());  // another timer is due at 10
  });
  s.PostAt(10, [&] {
    answers.push_back(s.TakeTurnNow());      // nothing else due at 10: taken
    answers.push_back(s.TakeIdleTurnNow());  // still nothing: taken
    s.Post([] {});
    answers.push_back(s.TakeTurnNow());  // a task posted for now is ahead
  });
  s.PostAt(20, [&] {
    s.PostIdle([] {});
    answers.push_back(s.TakeTurnNow());      // idle tasks come after a posted one
    answers.push_back(s.TakeIdleTurnNow());  // but not after another idle task
    s.PostAfter(5, [] {});
    answers.push_back(s.TakeTurnNow());  // a later timer is not due now
  });
  s.Run();
  CHECK(answers == std::vector<int>{0, 1, 1, 0, 1, 0, 1});
  CHECK(s.turns_taken() == 4);
  CHECK(s.events_run() == 6 + 4);  // the six tasks run, and the four turns taken count as events
  SimScheduler off;
  off.set_take_turns(false);
  off.Post([&] { answers.push_back(off.TakeTurnNow() || off.TakeIdleTurnNow()); });
  off.Run();
  CHECK(answers.back() == 0);
}

TEST_CASE("sim scheduler: many same-time tasks - ids survive the queue growing", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<int> order;
  std::vector<TimerId> ids;
  s.PostAt(5, [&] {
    // Far more than the queue's first capacity, posted from inside a running task.
    for (int i = 0; i < 1000; ++i) ids.push_back(s.Post([&order, i] { order.push_back(i); }));
    for (int i = 0; i < 1000; i += 3) CHECK(s.Cancel(ids[static_cast<std::size_t>(i)]));
    CHECK(!s.Cancel(ids[0]));
    CHECK(s.pending() == 1000 - 334);
  });
  s.Run();
  std::vector<int> expected;
  for (int i = 0; i < 1000; ++i) {
    if (i % 3 != 0) expected.push_back(i);
  }
  CHECK(order == expected);
  CHECK(s.Now() == 5);
  for (TimerId id : ids) CHECK(!s.Cancel(id));
  CHECK(s.pending() == 0);
}

TEST_CASE("sim scheduler: ids stay unique across many reuses", "[sim][scheduler]") {
  SimScheduler s;
  std::vector<TimerId> ids;
  for (int round = 0; round < 100; ++round) {
    ids.push_back(s.Post([] {}));
    s.Run();
  }
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  for (TimerId id : ids) CHECK(!s.Cancel(id));
}

}  // namespace
}  // namespace pflab::sim
