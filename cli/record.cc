#include "cli/record.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "traces/recording.h"
#include "traces/trace_io.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

constexpr const char* kLibraryName = "libpflab_record.so";

int Fail(const std::string& message) {
  std::cerr << "pflab record: " << message << "\n";
  return 1;
}

// Found relative to the pflab executable, never by a path compiled in, so a moved install still
// works: next to it (the build folder, or a copy made beside it), then where `cmake --install` puts it
// (PREFIX/lib/pflab for PREFIX/bin/pflab).
pflab::Result<std::string> FindLibrary() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return pflab::NotFound("cannot find the pflab executable (/proc/self/exe): " + ec.message());
  const std::vector<fs::path> candidates = {
      exe.parent_path() / kLibraryName,
      (exe.parent_path() / PFLAB_RECORD_RELATIVE_DIR / kLibraryName).lexically_normal(),
  };
  std::string tried;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return c.string();
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  return pflab::NotFound("the recorder library " + std::string(kLibraryName) + " was not found (looked at " + tried +
                         "); build it with `cmake --build build --target pflab_record`, or install pflab with "
                         "`cmake --install`");
}

// Globs naming a directory part are matched against absolute paths, so relative ones are anchored at
// the current directory; a bare pattern such as *.parquet matches base names anywhere.
pflab::Result<std::string> GlobList(const std::vector<std::string>& globs) {
  std::string list;
  for (const auto& g : globs) {
    if (g.empty() || g.find('\n') != std::string::npos) {
      return pflab::InvalidArgument("--file '" + g + "': a glob must be non-empty and on one line");
    }
    std::string anchored = g;
    if (g.find('/') != std::string::npos && g[0] != '/')
      anchored = (fs::current_path() / g).lexically_normal().string();
    list += (list.empty() ? "" : "\n") + anchored;
  }
  return list;
}

std::vector<std::string> ChildEnvironment(const std::string& library, const std::string& dir,
                                          const std::string& globs) {
  std::vector<std::string> env;
  std::string preload = library;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("LD_PRELOAD=", 0) == 0) {
      if (entry.size() > 11) preload += ":" + entry.substr(11);
      continue;
    }
    if (entry.rfind("PFLAB_RECORD_", 0) == 0) continue;
    env.push_back(entry);
  }
  env.push_back("LD_PRELOAD=" + preload);
  env.push_back("PFLAB_RECORD_DIR=" + dir);
  if (!globs.empty()) env.push_back("PFLAB_RECORD_FILES=" + globs);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs the command like a shell would: same stdin/stdout/stderr; Ctrl-C reaches the command (same process
// group) while pflab ignores it and waits. Returns the exit status, 128+N for a signal, 127 if it cannot run.
int RunCommand(std::vector<std::string> command, std::vector<std::string> env) {
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGQUIT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  auto argv = Pointers(command);
  auto envp = Pointers(env);
  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  int code = 127;
  if (spawn_error != 0) {
    std::cerr << "pflab record: cannot run '" << command[0] << "': " << std::strerror(spawn_error) << "\n";
  } else {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  return code;
}

// Writes the trace from the raw files; returns an error message, or "" on success.
std::string Convert(const RecordArgs& args, const std::string& dir, int exit_status) {
  auto raw = pflab::traces::ReadRawRecording(dir);
  if (!raw) return raw.error().message;
  for (const auto& w : raw->warnings) std::cerr << "pflab record: warning: " << w << "\n";
  for (const auto& path : raw->mmapped) {
    std::cerr << "pflab record: " << path << " is mmap'd; reads through the mapping are not recorded\n";
  }
  nlohmann::json source = {{"command", args.command}, {"files", args.files}, {"exit_status", exit_status}};
  auto trace = pflab::traces::RecordingToTrace(*raw, source);
  if (!trace) return trace.error().message + "; " + args.output + " not written";
  if (auto status = pflab::traces::WriteTrace(args.output, *trace); !status) return status.error().message;
  std::cerr << "pflab record: " << trace->records.size() << " reads of " << trace->objects.size() << " file"
            << (trace->objects.size() == 1 ? "" : "s") << " by " << trace->source["streams"].get<std::size_t>()
            << " stream(s) in " << raw->images << " process image(s) -> " << args.output << "\n";
  return "";
}

}  // namespace

CLI::App* AddRecordCommand(CLI::App& app, RecordArgs& args) {
  auto* cmd = app.add_subcommand("record",
                                 "run a command with the LD_PRELOAD recorder and write the reads of matching files "
                                 "as a trace (pflab record -o OUT.jsonl [--file GLOB]... -- COMMAND ARGS...)");
  cmd->add_option("-o,--output", args.output, "trace file to write")->required();
  cmd->add_option("--file", args.files,
                  "record files whose absolute path or base name matches this fnmatch glob (repeatable; default: "
                  "every regular file outside /usr, /lib, /etc, /proc, /sys, /dev, /run, /bin, /sbin, /var/lib, "
                  "/var/cache, except *.so, *.so.*, *.pyc)");
  cmd->add_option("--raw-dir", args.raw_dir, "keep the raw per-process recordings in this (new or empty) folder");
  cmd->footer("COMMAND ARGS...: the command to run, after -- (everything after it is passed on untouched)");
  return cmd;
}

int SplitRecordCommand(int argc, char** argv, RecordArgs& args) {
  if (argc < 2 || std::string(argv[1]) != "record") return argc;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      args.command.assign(argv + i + 1, argv + argc);
      return i;
    }
  }
  return argc;
}

int RunRecord(const RecordArgs& args) {
  if (args.command.empty())
    return Fail("no command given: pflab record -o OUT.jsonl [--file GLOB]... -- COMMAND ARGS...");
  auto library = FindLibrary();
  if (!library) return Fail(library.error().message);
  auto globs = GlobList(args.files);
  if (!globs) return Fail(globs.error().message);
  std::error_code ec;
  std::string dir;
  if (!args.raw_dir.empty()) {
    fs::create_directories(args.raw_dir, ec);
    if (ec) return Fail("--raw-dir " + args.raw_dir + ": " + ec.message());
    if (!fs::is_empty(args.raw_dir, ec)) return Fail("--raw-dir " + args.raw_dir + ": not empty");
    dir = fs::absolute(args.raw_dir).lexically_normal().string();
  } else {
    std::string pattern = (fs::temp_directory_path(ec) / "pflab_record.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      return Fail("cannot create a temporary folder: " + std::string(std::strerror(errno)));
    dir = pattern;
  }
  const int status = RunCommand(args.command, ChildEnvironment(*library, dir, *globs));
  const std::string error = Convert(args, dir, status);
  if (args.raw_dir.empty()) fs::remove_all(dir, ec);
  if (!error.empty()) {
    std::cerr << "pflab record: " << error << "\n";
    return status != 0 ? status : 1;
  }
  return status;
}
