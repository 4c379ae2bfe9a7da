// How late the real-time scheduler runs a task after its time: the think time a real replay adds to
// every read beyond the recorded one (engine/asio_scheduler.h). `spin_us` 0 sleeps to each task's
// time, as the scheduler did before the spin window; 100 is the default.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "engine/asio_scheduler.h"

namespace pflab {
namespace {

void BM_AsioLateness(benchmark::State& state) {
  const Nanos spin = state.range(0) * kMicrosecond;
  const Nanos wait = state.range(1) * kMicrosecond;
  constexpr int kWaits = 200;
  std::vector<double> late_us;
  for (auto _ : state) {
    AsioScheduler scheduler(spin);
    int left = kWaits;
    Nanos due = 0;
    std::function<void()> next = [&] {
      late_us.push_back(static_cast<double>(scheduler.Now() - due) / kMicrosecond);
      if (--left == 0) return;
      due = scheduler.Now() + wait;
      scheduler.PostAt(due, next);
    };
    due = scheduler.Now() + wait;
    scheduler.PostAt(due, next);
    scheduler.Run();
  }
  std::sort(late_us.begin(), late_us.end());
  const auto at = [&](double q) {
    return late_us[static_cast<std::size_t>(q * static_cast<double>(late_us.size() - 1))];
  };
  state.counters["late_p50_us"] = at(0.5);
  state.counters["late_p90_us"] = at(0.9);
  state.counters["late_p99_us"] = at(0.99);
}

BENCHMARK(BM_AsioLateness)
    ->ArgNames({"spin_us", "wait_us"})
    ->ArgsProduct({{0, 100}, {5, 50, 1000}})
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pflab
