#include "replay/matrix.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "replay/bound.h"
#include "replay/fake_server.h"

namespace pflab::replay {

Result<TransportKind> ParseTransportKind(const std::string& text) {
  if (text == "sim") return TransportKind::kSim;
  if (text == "fake") return TransportKind::kFake;
  if (text == "http") return TransportKind::kHttp;
  return InvalidArgument("'" + text + "' is not one of sim, fake, http");
}

const char* ToString(TransportKind kind) {
  switch (kind) {
    case TransportKind::kSim: return "sim";
    case TransportKind::kFake: return "fake";
    case TransportKind::kHttp: return "http";
  }
  return "?";
}

RunCell CellAt(const RunPlan& plan, std::size_t index) {
  RunCell cell;
  cell.index = index;
  cell.seed = index % plan.seeds.size();
  cell.policy = index / plan.seeds.size() % plan.policies.size();
  cell.trace = index / plan.seeds.size() / plan.policies.size();
  return cell;
}

SimulationConfig CellConfig(const RunPlan& plan, const RunCell& cell) {
  SimulationConfig config;
  config.trace = plan.traces[cell.trace];
  config.policy = plan.policies[cell.policy];
  config.profile_name = plan.profile_name;
  config.profile = plan.profile;
  config.seed = plan.seeds[cell.seed];
  config.think = plan.think;
  config.verify_bytes = plan.verify_bytes;
  // Over the fake server the server injects them (RunCells); elsewhere the run's stack does.
  if (plan.transport != TransportKind::kFake) config.faults = plan.faults;
  config.read_timeout = plan.live.http.read_timeout;
  return config;
}

policies::StackSpec BoundSpec() {
  return policies::StackSpec{kBoundPolicy, {}};
}

bool IsBound(const policies::StackSpec& spec) {
  return spec.text == kBoundPolicy && spec.layers.empty();
}

bool UsesOracle(const policies::StackSpec& spec) {
  return std::any_of(spec.layers.begin(), spec.layers.end(),
                     [](const policies::LayerSpec& layer) { return layer.name == "oracle"; });
}

Result<std::vector<std::uint64_t>> ParseSeeds(const std::string& text, std::uint64_t first) {
  constexpr std::uint64_t kMaxSeeds = 10000;
  auto bad = [&](const std::string& why) {
    return InvalidArgument("seeds '" + text + "': " + why + " (expected N, A..B or a,b,c)");
  };
  auto number = [](std::string_view t) -> std::optional<std::uint64_t> {
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
    return v;
  };
  std::vector<std::uint64_t> seeds;
  if (const auto dots = text.find(".."); dots != std::string::npos) {
    const auto a = number(std::string_view(text).substr(0, dots));
    const auto b = number(std::string_view(text).substr(dots + 2));
    if (!a || !b) return bad("not two integers");
    if (*a > *b) return bad("the start is above the end");
    if (*b - *a >= kMaxSeeds) return bad("more than " + std::to_string(kMaxSeeds) + " seeds");
    for (std::uint64_t v = *a;; ++v) {
      seeds.push_back(v);
      if (v == *b) break;
    }
  } else if (text.find(',') != std::string::npos) {
    std::size_t at = 0;
    for (;;) {
      const auto comma = text.find(',', at);
      const auto v =
          number(std::string_view(text).substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (!v) return bad("'" + text.substr(at, comma - at) + "' is not an integer");
      if (std::find(seeds.begin(), seeds.end(), *v) != seeds.end()) return bad("seed " + std::to_string(*v) + " twice");
      seeds.push_back(*v);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (seeds.size() > kMaxSeeds) return bad("more than " + std::to_string(kMaxSeeds) + " seeds");
  } else {
    const auto n = number(text);
    if (!n || *n == 0) return bad("the number of seeds must be an integer of at least 1");
    if (*n > kMaxSeeds) return bad("more than " + std::to_string(kMaxSeeds) + " seeds");
    if (first > std::numeric_limits<std::uint64_t>::max() - (*n - 1)) return bad("the seeds overflow");
    for (std::uint64_t i = 0; i < *n; ++i) seeds.push_back(first + i);
  }
  return seeds;
}

Status RunMatrix(const RunPlan& plan, const RunHooks& hooks) {
  std::vector<std::size_t> cells(plan.size());
  for (std::size_t i = 0; i < cells.size(); ++i) cells[i] = i;
  return RunCells(plan, hooks, cells);
}

namespace {

// Runs `count` tasks on up to `threads` threads; `task(i)` returns false to stop handing out more.
void RunParallel(std::size_t count, unsigned threads, const std::function<bool(std::size_t)>& task) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (;;) {
      if (stop.load()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= count) return;
      if (!task(i)) stop = true;
    }
  };
  threads = static_cast<unsigned>(std::min<std::size_t>(std::max(1u, threads), count));
  if (threads <= 1) {
    worker();
    return;
  }
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& thread : pool) thread.join();
}

}  // namespace

namespace {

// Fixed storage: the out-of-memory handler reads it without allocating.
thread_local char run_label[512] = "";

// Names the thread's run while it lasts.
struct RunLabel {
  explicit RunLabel(const SimulationConfig& config) {
    std::snprintf(run_label, sizeof run_label, "%s x %s, seed %llu", config.trace ? config.trace->name.c_str() : "?",
                  config.policy.text.c_str(), static_cast<unsigned long long>(config.seed));
  }
  ~RunLabel() { run_label[0] = '\0'; }
  RunLabel(const RunLabel&) = delete;
  RunLabel& operator=(const RunLabel&) = delete;
};

}  // namespace

const char* CurrentRunLabel() {
  return run_label;
}

Status RunCells(const RunPlan& plan, const RunHooks& hooks, const std::vector<std::size_t>& order) {
  if (plan.seeds.empty()) return InvalidArgument("no seeds to run");
  if (order.empty()) return OkStatus();
  for (std::size_t i : order) {
    if (i >= plan.size()) return InvalidArgument("cell " + std::to_string(i) + " is not in the plan");
  }

  LiveOptions live = plan.live;
  std::unique_ptr<fake_gcs::FakeGcsServer> fake;
  const bool simulated = plan.transport == TransportKind::kSim;
  bool needs_server = false;
  for (std::size_t i : order) needs_server |= !IsBound(plan.policies[CellAt(plan, i).policy]);
  if (plan.transport == TransportKind::kFake && needs_server) {
    auto started = StartFakeServer(plan.traces, plan.profile, plan.seeds.front(), plan.faults);
    if (!started) return Error{started.error().code, "fake GCS server: " + started.error().message};
    fake = std::move(*started);
    live.endpoint = *HttpEndpoint::Parse(fake->endpoint());
    if (hooks.on_note) hooks.on_note("fake GCS server at " + fake->endpoint() + ", shaped as " + plan.profile_name);
  }
  // Stacks with a layer that shares process-wide state (Python policies: one interpreter) run one at a
  // time, whatever the number of threads; other cells still run beside them.
  static std::mutex one_at_a_time;
  std::vector<bool> serial(plan.policies.size());
  for (std::size_t i = 0; i < plan.policies.size(); ++i) {
    serial[i] = !IsBound(plan.policies[i]) && policies::RunsOneAtATime(plan.policies[i]);
  }
  auto run = [&](const SimulationConfig& config, const RunCell& cell) -> Result<RunResult> {
    const RunLabel label(config);
    if (IsBound(plan.policies[cell.policy])) {
      return BoundRun(*config.trace, plan.profile_name, plan.profile, config.seed, plan.think);
    }
    std::unique_lock<std::mutex> serial_lock(one_at_a_time, std::defer_lock);
    if (serial[cell.policy]) serial_lock.lock();
    if (simulated) return RunSimulation(config);
    // Real runs go one at a time (below): each meets the latencies its simulated twin draws.
    if (fake) fake->RestartLatencyDraws(config.seed);
    if (!fake || plan.faults.script.empty()) return RunLive(config, live);
    // The script as a retry test of its own, so this run meets it from its first request, as a
    // simulated run does.
    auto test = fake->retry_tests().Create({{"instructions", {{"storage.objects.get", plan.faults.script}}}});
    if (!test) return test.error();
    LiveOptions scripted = live;
    scripted.http.extra_headers.emplace_back("x-retry-test-id", (*test)["id"].get<std::string>());
    return RunLive(config, scripted);
  };
  const unsigned threads = simulated ? std::max(1u, hooks.jobs) : 1;

  // Oracle cells wait for the peak memory of every other policy on their trace and seed.
  std::vector<std::size_t> first, oracles;
  for (std::size_t i : order) (UsesOracle(plan.policies[CellAt(plan, i).policy]) ? oracles : first).push_back(i);
  if (threads > 1) {
    // Longest first (by the trace's reads; the bound is computed, not simulated), so that the last
    // cells handed out are short ones and no thread is left running a long cell alone at the end. The
    // sort is stable: cells of equal cost keep their order, and the cells of one trace stay together.
    auto cost = [&](std::size_t i) -> std::size_t {
      const RunCell cell = CellAt(plan, i);
      return IsBound(plan.policies[cell.policy]) ? 0 : plan.traces[cell.trace]->records.size();
    };
    std::stable_sort(first.begin(), first.end(), [&](std::size_t a, std::size_t b) { return cost(a) > cost(b); });
  }
  std::mutex mutex;                            // serializes the hooks and guards `peaks`
  std::map<std::size_t, std::uint64_t> peaks;  // cell index -> peak memory, for non-oracle simulated cells
  bool stopped = false;

  auto report = [&](const RunCell& cell, SimulationConfig config) {
    {
      std::lock_guard lock(mutex);
      if (hooks.on_start) hooks.on_start(cell);
      if (hooks.sink) config.event_log = hooks.sink(cell);
    }
    if (hooks.on_progress && threads == 1) {
      config.on_progress = [&hooks, cell](std::uint64_t reads_done) { hooks.on_progress(cell, reads_done); };
    }
    Result<RunResult> result = run(config, cell);
    std::lock_guard lock(mutex);
    if (result && !IsBound(plan.policies[cell.policy])) peaks[cell.index] = result->metrics.peak_memory_bytes;
    if (hooks.on_finish && !hooks.on_finish(cell, std::move(result))) {
      stopped = true;
      return false;
    }
    return true;
  };
  RunParallel(first.size(), threads, [&](std::size_t k) {
    const RunCell cell = CellAt(plan, first[k]);
    return report(cell, CellConfig(plan, cell));
  });
  if (stopped || oracles.empty()) return OkStatus();

  // The other policies' cells of each oracle cell's trace and seed: known, run above, or run now
  // without reporting them.
  auto others = [&](const RunCell& oracle) {
    std::vector<std::size_t> out;
    for (std::size_t p = 0; p < plan.policies.size(); ++p) {
      if (IsBound(plan.policies[p]) || UsesOracle(plan.policies[p])) continue;
      out.push_back((oracle.trace * plan.policies.size() + p) * plan.seeds.size() + oracle.seed);
    }
    return out;
  };
  std::vector<std::size_t> missing;
  for (std::size_t i : oracles) {
    for (std::size_t other : others(CellAt(plan, i))) {
      if (peaks.count(other) || std::find(missing.begin(), missing.end(), other) != missing.end()) continue;
      std::optional<std::uint64_t> known;
      if (hooks.known_peak_memory) known = hooks.known_peak_memory(CellAt(plan, other));
      if (known) {
        peaks[other] = *known;
      } else {
        missing.push_back(other);
      }
    }
  }
  std::sort(missing.begin(), missing.end());
  RunParallel(missing.size(), threads, [&](std::size_t k) {
    const RunCell cell = CellAt(plan, missing[k]);
    Result<RunResult> result = run(CellConfig(plan, cell), cell);
    std::lock_guard lock(mutex);
    if (result) peaks[cell.index] = result->metrics.peak_memory_bytes;
    return true;
  });

  RunParallel(oracles.size(), threads, [&](std::size_t k) {
    const RunCell cell = CellAt(plan, oracles[k]);
    SimulationConfig config = CellConfig(plan, cell);
    {
      std::lock_guard lock(mutex);
      for (std::size_t other : others(cell)) {
        if (auto it = peaks.find(other); it != peaks.end()) {
          config.comparison_peak_memory_bytes = std::max(config.comparison_peak_memory_bytes, it->second);
        }
      }
    }
    return report(cell, std::move(config));
  });
  return OkStatus();
}

}  // namespace pflab::replay
