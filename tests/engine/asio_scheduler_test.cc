#include "engine/asio_scheduler.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace pflab {
namespace {

TEST_CASE("asio scheduler: tasks run in time order and not before their time", "[engine][asio]") {
  AsioScheduler s;
  std::vector<int> order;
  std::vector<Nanos> at;
  const Nanos t0 = s.Now();
  s.PostAt(t0 + 30 * kMillisecond, [&] {
    order.push_back(3);
    at.push_back(s.Now());
  });
  s.PostAt(t0 + 10 * kMillisecond, [&] {
    order.push_back(1);
    at.push_back(s.Now());
  });
  s.Post([&] { order.push_back(0); });
  s.PostAfter(20 * kMillisecond, [&] {
    order.push_back(2);
    at.push_back(s.Now());
  });
  s.Run();
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  REQUIRE(at.size() == 3);
  CHECK(at[0] >= t0 + 10 * kMillisecond);
  CHECK(at[2] >= t0 + 30 * kMillisecond);
}

TEST_CASE("asio scheduler: cancel stops a pending task, not a finished one", "[engine][asio]") {
  AsioScheduler s;
  int ran = 0;
  TimerId a = s.PostAfter(5 * kMillisecond, [&] { ++ran; });
  TimerId b = s.PostAfter(1 * kMillisecond, [&] { ++ran; });
  CHECK(s.Cancel(a));
  CHECK(!s.Cancel(a));
  s.Run();
  CHECK(ran == 1);
  CHECK(!s.Cancel(b));
}

TEST_CASE("asio scheduler: other threads hand work over with PostFromAnyThread", "[engine][asio]") {
  AsioScheduler s;
  std::atomic<int> posted{0};
  int ran = 0;  // touched only on the engine thread
  // Keep the loop alive until the worker's tasks arrive.
  TimerId keepalive = s.PostAfter(5 * kSecond, [] {});
  std::thread worker([&] {
    for (int i = 0; i < 100; ++i) {
      s.PostFromAnyThread([&] {
        if (++ran == 100) s.Cancel(keepalive);
      });
      ++posted;
    }
  });
  s.Run();
  worker.join();
  CHECK(posted == 100);
  CHECK(ran == 100);
}

}  // namespace
}  // namespace pflab
