#include "cli/bench_sweep.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>

#include "replay/sweep.h"
#include "traces/generators.h"
#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;

int Fail(const std::string& message) {
  std::cerr << "pflab bench sweep: " << message << "\n";
  return 1;
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

// Instructions retired by this process's threads, those it starts after Open included (the sweep's
// workers): a count that waiting for a core does not change, unlike CPU time on a shared machine.
// Virtual machines often give no hardware counters; then there is no count.
class InstructionCounter {
 public:
  InstructionCounter() {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_HARDWARE;
    attr.size = sizeof attr;
    attr.config = PERF_COUNT_HW_INSTRUCTIONS;
    attr.disabled = 1;
    attr.inherit = 1;  // threads created from here on
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    fd_ = static_cast<int>(::syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
    if (fd_ >= 0) ::ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
  }
  ~InstructionCounter() {
    if (fd_ >= 0) ::close(fd_);
  }
  InstructionCounter(const InstructionCounter&) = delete;
  InstructionCounter& operator=(const InstructionCounter&) = delete;
  std::optional<std::uint64_t> Read() const {
    std::uint64_t value = 0;
    if (fd_ < 0 || ::read(fd_, &value, sizeof value) != sizeof value) return std::nullopt;
    return value;
  }

 private:
  int fd_ = -1;
};

struct Measured {
  double wall = 0, user = 0, sys = 0;
  std::optional<std::uint64_t> instructions;
  std::size_t runs = 0;
};

// One sweep into a fresh results file, in this process.
pflab::Result<Measured> RunOnce(const pflab::replay::SweepPlan& plan, unsigned jobs, const std::string& path) {
  Measured m;
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  InstructionCounter counter;
  const auto instructions_before = counter.Read();
  const auto start = std::chrono::steady_clock::now();
  pflab::replay::SweepRunOptions options;
  options.jobs = jobs;
  auto outcome = pflab::replay::RunSweep(plan, path, options);
  m.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto instructions_after = counter.Read();
  ::getrusage(RUSAGE_SELF, &after);
  if (!outcome) return outcome.error();
  m.user = Seconds(after.ru_utime) - Seconds(before.ru_utime);
  m.sys = Seconds(after.ru_stime) - Seconds(before.ru_stime);
  if (instructions_before && instructions_after) m.instructions = *instructions_after - *instructions_before;
  m.runs = outcome->ran;
  return m;
}

// One sweep in a child process forked for it, as `pflab sweep --jobs N` runs in a process of its own: a
// process that has never started a thread pays no atomic instructions for shared_ptr's counts
// (libstdc++ checks __libc_single_threaded), one that has pays them from then on, so measuring --jobs 1
// after --jobs N in the same process would measure the wrong thing. This process starts no thread.
// The results file's lines, sorted, in `lines`.
pflab::Result<Measured> RunInChild(const pflab::replay::SweepPlan& plan, unsigned jobs, const std::string& path,
                                   std::vector<std::string>& lines) {
  std::error_code ec;
  fs::remove(path, ec);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return pflab::Internal("pipe failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return pflab::Internal("fork failed");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    auto m = RunOnce(plan, jobs, path);
    char text[512];
    const int n = m ? std::snprintf(text, sizeof text, "ok %.6f %.6f %.6f %zu %lld", m->wall, m->user, m->sys, m->runs,
                                    m->instructions ? static_cast<long long>(*m->instructions) : -1LL)
                    : std::snprintf(text, sizeof text, "error %s", m.error().message.c_str());
    [[maybe_unused]] const auto written = ::write(pipe_fds[1], text, static_cast<std::size_t>(std::max(n, 0)));
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string reply;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    reply.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return pflab::Internal("the measuring process died");
  if (reply.rfind("error ", 0) == 0) return pflab::InvalidArgument(reply.substr(6));
  Measured m;
  long long instructions = -1;
  if (std::sscanf(reply.c_str(), "ok %lf %lf %lf %zu %lld", &m.wall, &m.user, &m.sys, &m.runs, &instructions) != 5) {
    return pflab::Internal("the measuring process said: " + reply);
  }
  if (instructions >= 0) m.instructions = static_cast<std::uint64_t>(instructions);
  lines.clear();
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  fs::remove(path, ec);
  return m;
}

void Print(unsigned jobs, const Measured& m) {
  std::printf("--jobs %-3u %6zu runs %8.2f s wall %8.2f s user %6.2f s sys %7.2f ms user/run", jobs, m.runs, m.wall,
              m.user, m.sys, 1e3 * m.user / static_cast<double>(std::max<std::size_t>(m.runs, 1)));
  if (m.instructions) std::printf(" %8.3f G instructions", static_cast<double>(*m.instructions) / 1e9);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

CLI::App* AddBenchSweepCommand(CLI::App* bench, BenchSweepArgs& args) {
  auto* cmd = bench->add_subcommand("sweep",
                                    "the same sweep with --jobs 1 and --jobs N: CPU time (and instructions) per "
                                    "run and parallel efficiency");
  cmd->add_option("--traces", args.traces, "trace files and directories (default: five generated traces)");
  cmd->add_option("--policy", args.policies, "policy grids (default: a fixed mix of 14 specs)");
  cmd->add_option("-j,--jobs", args.jobs, "the N compared with 1")->capture_default_str();
  cmd->add_option("--reps", args.reps, "runs of each, alternating; the best of each is compared")
      ->capture_default_str();
  cmd->add_option("--reads", args.reads, "reads of each generated trace")->capture_default_str();
  cmd->add_option("--dir", args.dir, "scratch folder (default: the temporary folder)");
  return cmd;
}

int RunBenchSweep(const BenchSweepArgs& args) {
  if (args.jobs < 2 || args.jobs > 256) return Fail("--jobs: expected 2..256");
  if (args.reps < 1) return Fail("--reps: at least 1");
  const fs::path dir = fs::path(args.dir.empty() ? fs::temp_directory_path() : fs::path(args.dir)) /
                       ("pflab_bench_sweep_" + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(dir.string() + ": " + ec.message());
  struct Remove {
    fs::path dir;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove{dir};

  pflab::replay::SweepOptions options;
  options.traces = args.traces;
  if (options.traces.empty()) {
    // Five shapes the policies treat differently, each of --reads reads over a 64 GiB object.
    for (const char* pattern : {"sequential", "random", "backtrack", "strided", "multi-stream"}) {
      pflab::traces::GeneratorParams params;
      params.object_size = 64ull << 30;
      params.count = args.reads;
      params.seed = 1;
      auto trace = pflab::traces::Generate(pattern, params);
      if (!trace) return Fail(std::string(pattern) + ": " + trace.error().message);
      const fs::path path = dir / (std::string(pattern) + ".jsonl");
      if (auto s = pflab::traces::WriteTrace(path.string(), *trace); !s) return Fail(s.error().message);
      options.traces.push_back(path.string());
    }
  }
  options.policies = args.policies;
  if (options.policies.empty()) {
    options.policies = {"gcsfs-adaptive(streak=1..4,max=16MiB|64MiB)", "fsspec-blockcache(blocksize=1MiB|4MiB|16MiB)",
                        "fsspec-readahead(blocksize=1MiB|8MiB)", "gcsfuse"};
  }
  options.results_file = (dir / "results.jsonl").string();
  auto plan = pflab::replay::PlanSweep(options);
  if (!plan) return Fail(plan.error().message);
  std::printf("%zu runs: %zu traces x %zu specs; --jobs 1 and --jobs %u, %u times each, alternating\n",
              plan->jobs.size(), plan->traces.size(), plan->specs.size(), args.jobs, args.reps);

  std::optional<Measured> best1, bestn;
  double wall1 = 0, walln = 0;  // the best of each
  std::vector<std::string> lines1, linesn;
  for (unsigned rep = 0; rep < args.reps; ++rep) {
    for (unsigned jobs : {1u, args.jobs}) {
      auto& lines = jobs == 1 ? lines1 : linesn;
      auto m = RunInChild(*plan, jobs, (dir / "results.jsonl").string(), lines);
      if (!m) return Fail(m.error().message);
      Print(jobs, *m);
      auto& best = jobs == 1 ? best1 : bestn;
      if (!best || m->user + m->sys < best->user + best->sys) best = *m;
      double& wall = jobs == 1 ? wall1 : walln;
      wall = rep == 0 ? m->wall : std::min(wall, m->wall);
    }
    if (lines1 != linesn) return Fail("--jobs 1 and --jobs " + std::to_string(args.jobs) + " wrote different lines");
  }
  const double cpu1 = best1->user + best1->sys, cpun = bestn->user + bestn->sys;
  std::printf("best of %u: CPU time (user + sys) at --jobs %u / --jobs 1: %.3f (user %.3f)", args.reps, args.jobs,
              cpun / cpu1, bestn->user / best1->user);
  if (best1->instructions && bestn->instructions) {
    std::printf(", instructions %.3f",
                static_cast<double>(*bestn->instructions) / static_cast<double>(*best1->instructions));
  } else {
    std::printf(", instructions: no hardware counters here");
  }
  const double speedup = wall1 / walln;
  double load[1] = {0};
  ::getloadavg(load, 1);
  std::printf(
      "\n           best wall times: speed-up %.2fx, parallel efficiency %.0f%% (%u cores online, load "
      "average %.2f at the end)\n",
      speedup, 100.0 * speedup / args.jobs, static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN)), load[0]);
  std::printf("           the same %zu result lines both ways\n", lines1.size());
  return 0;
}
