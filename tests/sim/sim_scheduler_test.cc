#include "sim/sim_scheduler.h"

#include <catch2/catch.hpp>
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

}  // namespace
}  // namespace pflab::sim
