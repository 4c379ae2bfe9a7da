// Runs the pflab binary from end-to-end tests: fresh scratch folders, a shell command line, and the
// exit code with everything the command printed.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "tests/support/files.h"

namespace pflab::testing {

/// What a command did: its exit code (-1 when a signal ended it) and its stdout and stderr.
struct CliOutcome {
  int exit_code;
  std::string out;
  std::string err;
};

/// The lines of a file, sorted: the set of lines two results files are compared on.
inline std::vector<std::string> SortedLines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(Slurp(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// The folders FreshTempDir made, removed when the test program exits (set PFLAB_KEEP_TEST_DIRS to
/// keep them for a look after a failure): runs of the suite would otherwise pile them up in /tmp.
class ScratchDirs {
 public:
  static ScratchDirs& Get() {
    static ScratchDirs dirs;
    return dirs;
  }
  void Add(const std::filesystem::path& dir) { dirs_.push_back(dir); }
  ScratchDirs(const ScratchDirs&) = delete;
  ScratchDirs& operator=(const ScratchDirs&) = delete;
  ~ScratchDirs() {
    if (std::getenv("PFLAB_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ignored;  // a folder a test removed itself, or one still busy: nothing to do
    for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ignored);
  }

 private:
  ScratchDirs() = default;
  std::vector<std::filesystem::path> dirs_;
};

/// An empty folder of its own under the system temp folder; the pid keeps parallel CTest runs apart.
inline std::filesystem::path FreshTempDir(const std::string& prefix) {
  static int counter = 0;
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ScratchDirs::Get().Add(dir);
  return dir;
}

/// Runs `cmd` with /bin/sh; its exit code, or -1 when a signal ended it.
inline int Shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// `s` as one single-quoted shell word.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// How to run the CLI: extra environment (`NAME=value ...`), text for its stdin, and whether to run it
/// from `dir` (for relative paths) rather than from the test's folder.
struct CliOptions {
  std::string env;
  std::string stdin_text;
  bool in_dir = false;
};

/// Runs the CLI (its path is in PFLAB_CLI, set by CTest) with `args` through the shell; stdout and
/// stderr go to `dir`/stdout and `dir`/stderr and come back in the outcome.
inline CliOutcome RunPflab(const std::string& args, const std::filesystem::path& dir, const CliOptions& options = {}) {
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  std::string cmd = options.env + " " + std::string(cli) + " " + args;
  cmd += " >" + (dir / "stdout").string() + " 2>" + (dir / "stderr").string();
  if (!options.stdin_text.empty()) cmd = "printf '%s' " + ShellQuote(options.stdin_text) + " | " + cmd;
  if (options.in_dir) cmd = "cd " + dir.string() + " && " + cmd;
  const int code = Shell(cmd);
  return {code, Slurp(dir / "stdout"), Slurp(dir / "stderr")};
}

}  // namespace pflab::testing
