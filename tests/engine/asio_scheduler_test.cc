#include "engine/asio_scheduler.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <string>
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

TEST_CASE("asio scheduler: tasks due within the spin window run, with nothing else keeping the loop alive",
          "[engine][asio]") {
  // Each task is due 20 us after the last ran, inside the 100 us window: no wait is armed for any of
  // them, and the loop spins to each. Were nothing holding the context's work count meanwhile, poll()
  // would stop the out-of-work context and Run would return with the chain unfinished.
  AsioScheduler s;
  int ran = 0;
  bool early = false;
  Nanos due = 0;
  std::function<void()> next = [&] {
    early |= s.Now() < due;
    if (++ran == 100) return;
    due = s.Now() + 20 * kMicrosecond;
    s.PostAt(due, next);
  };
  due = s.Now() + 20 * kMicrosecond;
  s.PostAt(due, next);
  s.Run();
  CHECK(ran == 100);
  CHECK(!early);
  CHECK(s.pending() == 0);
}

TEST_CASE("asio scheduler: while it spins, the loop runs other threads' handlers, and Stop and RunFor end it",
          "[engine][asio]") {
  // A window of 10 s: the loop spins from the start to a task due in 400 ms.
  AsioScheduler s(10 * kSecond);
  std::vector<std::string> order;
  const Nanos t0 = s.Now();
  s.PostAt(t0 + 400 * kMillisecond, [&] { order.push_back("task"); });

  SECTION("another thread's handler runs at once, before the task") {
    Nanos handled_at = 0;
    std::thread other([&] {
      s.PostFromAnyThread([&] {
        order.push_back("handler");
        handled_at = s.Now();
      });
    });
    s.Run();
    other.join();
    CHECK(order == std::vector<std::string>{"handler", "task"});
    CHECK(handled_at - t0 < 300 * kMillisecond);
    CHECK(s.Now() - t0 >= 400 * kMillisecond);
  }
  SECTION("Stop from another thread ends Run, the task left pending") {
    std::thread other([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      s.Stop();
    });
    s.Run();
    other.join();
    CHECK(order.empty());
    CHECK(s.pending() == 1);
    CHECK(s.Now() - t0 < 300 * kMillisecond);
  }
  SECTION("RunFor returns at its deadline, and Run later runs the task on time") {
    s.RunFor(20 * kMillisecond);
    CHECK(order.empty());
    CHECK(s.pending() == 1);
    CHECK(s.Now() - t0 >= 20 * kMillisecond);
    CHECK(s.Now() - t0 < 300 * kMillisecond);
    s.Run();
    CHECK(order == std::vector<std::string>{"task"});
    CHECK(s.Now() - t0 >= 400 * kMillisecond);
  }
}

}  // namespace
}  // namespace pflab
