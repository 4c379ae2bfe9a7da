#include "cli/bench_traces.h"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "traces/binary_trace.h"
#include "traces/limits.h"
#include "traces/trace_io.h"

namespace {

using Clock = std::chrono::steady_clock;

int Fail(const std::string& message) {
  std::cerr << "pflab bench traces: " << message << "\n";
  return 1;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// This process's CPU time (all its threads), or the calling thread's: on a shared machine the wall time
// includes waiting for a core, so each stage reports its rate by both.
double CpuSeconds(clockid_t clock = CLOCK_PROCESS_CPUTIME_ID) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A stage's start, by the wall clock and by CPU time.
struct Timer {
  Clock::time_point wall = Clock::now();
  double cpu = CpuSeconds();
  double thread_cpu = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
};

// A load on worker threads: the reading thread's own CPU time bounds its wall time however many cores
// the workers get, so a loaded machine still shows what an idle one with enough cores would reach.
void ThreadShare(std::uint64_t reads, const Timer& timer, unsigned threads) {
  const double mine = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - timer.thread_cpu;
  const double all = CpuSeconds() - timer.cpu;
  std::printf(
      "          on %u threads (%ld cores online): the reading thread %.2f s CPU (%.2f M/s), the workers %.2f s\n",
      threads, ::sysconf(_SC_NPROCESSORS_ONLN), mine, static_cast<double>(reads) / mine / 1e6,
      std::max(0.0, all - mine));
}

// VmRSS (now) or VmHWM (peak) from /proc/self/status, in bytes.
std::uint64_t StatusBytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field) + 1)) * 1024;
  }
  return 0;
}

double MiB(std::uint64_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

void Stage(const char* name, std::uint64_t items, const Timer& timer, const char* unit) {
  const double wall = Seconds(timer.wall);
  const double cpu = CpuSeconds() - timer.cpu;
  std::printf("%-9s %10llu %-5s %7.2f s %7.2f M/s %7.2f s %7.2f M/s %9.1f MiB %9.1f MiB\n", name,
              static_cast<unsigned long long>(items), unit, wall, static_cast<double>(items) / wall / 1e6, cpu,
              static_cast<double>(items) / cpu / 1e6, MiB(StatusBytes("VmRSS:")), MiB(StatusBytes("VmHWM:")));
  std::fflush(stdout);
}

// The generated workload: `streams` readers over 16 objects of 64 GiB, each reading 64 KiB at a time
// sequentially, seeking to a random block one read in 16, 10 us apart; the last read of an object's
// region crosses its end (asked 64 KiB, cut at EOF) now and then. Seeded, so every run writes the same
// file.
pflab::Status Generate(const BenchTracesArgs& args, const std::string& path) {
  constexpr std::uint64_t kObjectSize = 64ull << 30, kRead = 64 << 10;
  constexpr std::uint32_t kObjects = 16;
  pflab::traces::Trace header;
  for (std::uint32_t i = 0; i < kObjects; ++i) {
    header.objects.push_back({"o" + std::to_string(i), "pflab", "bench-" + std::to_string(i) + ".bin", kObjectSize});
  }
  header.source = {{"generator", "pflab bench traces"}, {"reads", args.reads}, {"seed", args.seed}};
  std::ofstream out(path, std::ios::binary);
  if (!out) return pflab::InvalidArgument(path + ": cannot write");
  pflab::traces::BinaryTraceWriter writer(out, header);
  std::mt19937_64 rng(args.seed);
  std::vector<std::uint64_t> position(args.streams);
  for (auto& p : position) p = rng() % (kObjectSize / kRead) * kRead;
  for (std::uint64_t i = 0; i < args.reads; ++i) {
    const auto stream = static_cast<std::uint32_t>(i % args.streams);
    std::uint64_t& at = position[stream];
    if ((rng() & 15) == 0) at = rng() % (kObjectSize / kRead) * kRead;
    pflab::traces::TraceRecord r;
    r.t_ns = static_cast<pflab::Nanos>(i) * 10'000;
    r.stream = stream;
    r.object = stream % kObjects;
    r.offset = at;
    r.length = std::min(kRead, kObjectSize - at);
    r.past_eof = kRead - r.length;
    r.duration_ns = 5'000;
    if (auto s = writer.Add(r); !s) return s;
    at = at + r.length >= kObjectSize ? 0 : at + r.length;
  }
  if (auto s = writer.Finish(); !s) return s;
  out.close();
  if (!out) return pflab::InvalidArgument(path + ": writing failed");
  return pflab::OkStatus();
}

pflab::Result<pflab::traces::Trace> LoadBinary(const std::string& path, unsigned threads) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return pflab::InvalidArgument(path + ": cannot read");
  return pflab::traces::ParseBinaryTrace(in, path, {.threads = threads});
}

}  // namespace

CLI::App* AddBenchTracesCommand(CLI::App* bench, BenchTracesArgs& args) {
  auto* cmd = bench->add_subcommand("traces",
                                    "traces at scale: generate into the binary form, load, replay, parse JSONL; "
                                    "prints each stage's rate and the peak RSS");
  cmd->add_option("--reads", args.reads, "reads in the generated trace")->capture_default_str();
  cmd->add_option("--jsonl-reads", args.jsonl_reads, "reads rendered as JSONL in memory and parsed")
      ->capture_default_str();
  cmd->add_option("--streams", args.streams, "streams of the generated trace")->capture_default_str();
  cmd->add_option("--policy", args.policy, "stack replayed on gcs-regional, or skip")->capture_default_str();
  cmd->add_option("--dir", args.dir, "folder for the binary trace (default: the temporary folder)");
  cmd->add_flag("--keep", args.keep, "keep the binary trace");
  cmd->add_option("--seed", args.seed, "seed of the generated trace")->capture_default_str();
  cmd->add_option("--load-threads", args.load_threads,
                  "threads decoding the binary trace (0: one per core, at most 8); with more than one, a load "
                  "on one thread is measured first")
      ->capture_default_str();
  return cmd;
}

int RunBenchTraces(const BenchTracesArgs& args) {
  if (args.reads == 0 || args.streams == 0) return Fail("--reads and --streams must be at least 1");
  if (args.streams > 1024) return Fail("--streams: at most 1024");
  if (auto s = pflab::traces::CheckRecordCount(args.reads); !s) return Fail("--reads: " + s.error().message);
  const std::filesystem::path dir =
      args.dir.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(args.dir);
  const std::string path = (dir / ("pflab_bench_traces_" + std::to_string(::getpid()) + ".pftrace")).string();
  struct Remove {
    std::string path;
    bool keep;
    ~Remove() {
      std::error_code ec;
      if (!keep) std::filesystem::remove(path, ec);
    }
  } remove{path, args.keep};
  std::printf("stage          items        wall    wall rate     cpu     cpu rate    resident        peak\n");
  const std::uint64_t rss0 = StatusBytes("VmRSS:");

  Timer timer;
  if (auto s = Generate(args, path); !s) return Fail(s.error().message);
  Stage("generate", args.reads, timer, "reads");
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(path, ec);
  std::printf("          binary trace: %.1f MiB, %.2f bytes per read (%s)\n", MiB(file_bytes),
              static_cast<double>(file_bytes) / static_cast<double>(args.reads), path.c_str());

  const unsigned threads =
      args.load_threads != 0 ? args.load_threads : std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  if (threads > 1) {
    // The same load on one thread, for the speed-up; its memory goes back to the kernel when freed (the
    // arrays are mmap-ed), so the load after it touches fresh memory as well.
    timer = Timer();
    auto one = LoadBinary(path, 1);
    if (!one) return Fail(one.error().message);
    Stage("load-1", one->records.size(), timer, "reads");
  }
  timer = Timer();
  auto trace = LoadBinary(path, threads);
  if (!trace) return Fail(trace.error().message);
  Stage("load", trace->records.size(), timer, "reads");
  if (threads > 1) ThreadShare(trace->records.size(), timer, threads);
  const std::uint64_t rss_loaded = StatusBytes("VmRSS:");
  std::printf("          resident for the trace: %.1f bytes per read (sizeof TraceRecord %zu)\n",
              static_cast<double>(rss_loaded - std::min(rss_loaded, rss0)) / static_cast<double>(trace->records.size()),
              sizeof(pflab::traces::TraceRecord));

  if (args.jsonl_reads > 0) {
    pflab::traces::Trace slice;
    slice.objects = trace->objects;
    slice.source = trace->source;
    const std::size_t n = std::min<std::size_t>(args.jsonl_reads, trace->records.size());
    slice.records.assign(trace->records.begin(), trace->records.begin() + static_cast<std::ptrdiff_t>(n));
    std::string text;
    {
      std::ostringstream out;
      pflab::traces::WriteTrace(out, slice);
      text = std::move(out).str();
    }
    slice = {};
    std::istringstream in(std::move(text));
    timer = Timer();
    auto parsed = pflab::traces::ParseTrace(in, "bench.jsonl");
    if (!parsed) return Fail(parsed.error().message);
    Stage("jsonl", n, timer, "lines");
    if (parsed->records.size() != n) return Fail("the JSONL stage parsed a different number of reads");
  }

  if (args.policy != "skip") {
    auto profile = pflab::sim::FindProfile("gcs-regional");
    auto spec = pflab::policies::ParseStackSpec(args.policy);
    if (!profile) return Fail(profile.error().message);
    if (!spec) return Fail("--policy: " + spec.error().message);
    pflab::replay::SimulationConfig config;
    config.trace = &*trace;
    config.policy = *spec;
    config.profile_name = "gcs-regional";
    config.profile = *profile;
    config.seed = 1;
    timer = Timer();
    auto result = pflab::replay::RunSimulation(config);
    if (!result) return Fail(result.error().message);
    Stage("replay", result->metrics.reads, timer, "reads");
    if (result->failed()) return Fail("the replay failed: " + std::to_string(result->metrics.reads_failed) + " reads");
  }
  std::printf("peak RSS %.1f MiB: %.1f bytes per read of the trace\n", MiB(StatusBytes("VmHWM:")),
              static_cast<double>(StatusBytes("VmHWM:")) / static_cast<double>(args.reads));

  // The same file again, into memory the process has already touched: the decoder's own rate, without
  // the kernel's first touch of fresh memory that the load stage pays (and any real first load pays).
  // From here on large blocks come from the heap (no mmap) and the heap never shrinks (a trim
  // threshold of -1), and a block larger than the load's arrays together is touched and freed before
  // the clock starts.
  const std::size_t warm_bytes = trace->records.capacity() * sizeof(pflab::traces::TraceRecord) * 3 / 2;
  *trace = pflab::traces::Trace();
  ::mallopt(M_MMAP_MAX, 0);
  ::mallopt(M_TRIM_THRESHOLD, -1);
  void* warm = std::malloc(warm_bytes);
  if (warm == nullptr) return Fail("cannot allocate the reload stage's memory");
  std::memset(warm, 1, warm_bytes);
  asm volatile("" : : "r"(warm) : "memory");  // the stores happen: they are the point
  std::free(warm);
  const std::uint64_t rss_warm = StatusBytes("VmRSS:");
  timer = Timer();
  trace = LoadBinary(path, threads);
  if (!trace) return Fail(trace.error().message);
  Stage("reload", trace->records.size(), timer, "reads");
  if (threads > 1) ThreadShare(trace->records.size(), timer, threads);
  std::printf("          into touched memory: resident grew by %.1f MiB\n",
              MiB(StatusBytes("VmRSS:") - std::min(StatusBytes("VmRSS:"), rss_warm)));
  return 0;
}
