#include "engine/asio_scheduler.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
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
  CHECK(at[1] >= t0 + 20 * kMillisecond);
  CHECK(at[2] >= t0 + 30 * kMillisecond);
  CHECK(s.pending() == 0);
}

TEST_CASE("asio scheduler: ties run in posting order- past times count as now", "[engine][asio]") {
  AsioScheduler s;
  std::vector<int> order;
  // Far enough ahead that a loaded machine (sanitizers, parallel tests) still runs Post first.
  const Nanos t = s.Now() + 300 * kMillisecond;
  for (int i = 0; i < 20; ++i) s.PostAt(t, [&order, i] { order.push_back(i); });
  s.Post([&] {
    order.push_back(100);
    // Both are due: the one posted first runs first, although the second names an earlier time.
    s.Post([&] { order.push_back(101); });
    s.PostAt(0, [&] { order.push_back(102); });
  });
  s.Run();
  std::vector<int> expected{100, 101, 102};
  for (int i = 0; i < 20; ++i) expected.push_back(i);
  CHECK(order == expected);
}

TEST_CASE("asio scheduler: cancel stops a pending task, not a finished one", "[engine][asio]") {
  AsioScheduler s;
  int ran = 0;
  TimerId a = s.PostAfter(5 * kMillisecond, [&] { ++ran; });
  TimerId b = s.PostAfter(1 * kMillisecond, [&] { ++ran; });
  CHECK(s.Cancel(a));
  CHECK(!s.Cancel(a));
  CHECK(s.pending() == 1);
  s.Run();
  CHECK(ran == 1);
  CHECK(!s.Cancel(b));
  CHECK(!s.Cancel(0));
}

TEST_CASE("asio scheduler: cancelling the last task lets Run return at once", "[engine][asio]") {
  AsioScheduler s;
  TimerId far = s.PostAfter(10 * kSecond, [] {});
  s.PostAfter(kMillisecond, [&] { CHECK(s.Cancel(far)); });
  const Nanos t0 = s.Now();
  s.Run();
  CHECK(s.Now() - t0 < 5 * kSecond);
}

TEST_CASE("asio scheduler: an earlier task posted later still runs first", "[engine][asio]") {
  AsioScheduler s;
  std::vector<int> order;
  // Read before posting: the task is due 200 ms after its own PostAfter, which t0 must not follow.
  const Nanos t0 = s.Now();
  s.PostAfter(200 * kMillisecond, [&] { order.push_back(2); });
  s.PostAfter(kMillisecond, [&] { order.push_back(1); });
  s.Run();
  CHECK(order == std::vector<int>{1, 2});
  CHECK(s.Now() - t0 >= 200 * kMillisecond);
}

TEST_CASE("asio scheduler: Stop and RunFor", "[engine][asio]") {
  AsioScheduler s;
  int ran = 0;
  s.PostAfter(kMillisecond, [&] {
    ++ran;
    s.Stop();
  });
  s.PostAfter(2 * kMillisecond, [&] { ++ran; });
  s.Run();
  CHECK(ran == 1);
  CHECK(s.pending() == 1);
  s.Run();  // resumes with what is left
  CHECK(ran == 2);

  s.PostAfter(10 * kSecond, [&] { ++ran; });
  const Nanos t0 = s.Now();
  s.RunFor(20 * kMillisecond);
  CHECK(ran == 2);
  CHECK(s.Now() - t0 >= 20 * kMillisecond);
  CHECK(s.Now() - t0 < 5 * kSecond);
}

TEST_CASE("asio scheduler: other threads hand work over with PostFromAnyThread", "[engine][asio]") {
  AsioScheduler s;
  std::atomic<int> posted{0};
  int ran = 0;  // touched only on the engine thread
  const auto engine_thread = std::this_thread::get_id();
  bool all_on_engine_thread = true;
  // Keep the loop alive until the worker's tasks arrive.
  TimerId keepalive = s.PostAfter(5 * kSecond, [] {});
  std::thread worker([&] {
    for (int i = 0; i < 100; ++i) {
      s.PostFromAnyThread([&] {
        all_on_engine_thread &= std::this_thread::get_id() == engine_thread;
        // Engine-thread work posted from a handed-over task is ordinary scheduling.
        s.Post([&] {
          if (++ran == 100) s.Cancel(keepalive);
        });
      });
      ++posted;
    }
  });
  s.Run();
  worker.join();
  CHECK(posted == 100);
  CHECK(ran == 100);
  CHECK(all_on_engine_thread);
}

TEST_CASE("asio scheduler: a task that keeps posting for now runs in batches and cannot starve other threads",
          "[engine][asio]") {
  AsioScheduler s;
  std::atomic<bool> stop{false};
  std::uint64_t spins = 0;
  // Reposts itself for "now" until a handler from another thread says stop: if one wakeup ran every
  // task due by the time it looked (unbounded), the handler would never get a turn and this would hang.
  std::function<void()> spin = [&] {
    ++spins;
    if (!stop) s.Post(spin);
  };
  s.Post(spin);
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.PostFromAnyThread([&] { stop = true; });
    // Were the handler starved, end the run after 5 s so the test fails instead of hanging.
    for (int i = 0; i < 5000 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!stop) s.Stop();
  });
  s.Run();
  other.join();
  CHECK(stop);
  CHECK(spins > 256);  // it ran many batches while waiting
}

}  // namespace
}  // namespace pflab
