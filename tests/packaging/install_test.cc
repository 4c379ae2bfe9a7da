// An installed pflab works from anywhere: `cmake --install` into a temporary prefix, the prefix moved
// to another folder, and the moved tool run from a third folder with nothing from the source or build
// tree on hand (no $PFLAB_PROFILES, no $PFLAB_JS_DIR, no path compiled into the binary that it uses).
// Then the Debian package (cpack -G DEB) must hold the same files, checked with dpkg-deb without
// installing it.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"
#include "traces/trace_io.h"

namespace pflab::testing {
namespace {

namespace fs = std::filesystem;

// Every regular file under `root`, as paths relative to it.
std::set<std::string> FilesUnder(const fs::path& root) {
  std::set<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) files.insert(fs::relative(entry.path(), root).string());
  }
  return files;
}

// Runs `command` in `cwd` with the environment's pflab overrides removed; stdout and stderr in files.
CliOutcome RunIn(const fs::path& cwd, const std::string& command) {
  const std::string cmd =
      "cd " + ShellQuote(cwd.string()) +
      " && env -u PFLAB_PROFILES -u PFLAB_JS_DIR -u PFLAB_PYTHON_BRIDGE -u LD_PRELOAD -u LD_LIBRARY_PATH " + command +
      " >" + (cwd / "stdout").string() + " 2>" + (cwd / "stderr").string();
  const int code = Shell(cmd);
  return {code, Slurp(cwd / "stdout"), Slurp(cwd / "stderr")};
}

void RequireOk(const CliOutcome& o) {
  INFO("stdout: " << o.out);
  INFO("stderr: " << o.err);
  REQUIRE(o.exit_code == 0);
}

TEST_CASE("install: a moved install runs profiles, gen, compare --html and record from any folder", "[install]") {
  const fs::path dir = FreshTempDir("pflab_install_test");
  const fs::path prefix = dir / "prefix";
  RequireOk(RunIn(dir, ShellQuote(PFLAB_CMAKE_COMMAND) + " --install " + ShellQuote(PFLAB_BINARY_DIR) + " --prefix " +
                           ShellQuote(prefix.string())));
  const std::set<std::string> installed = FilesUnder(prefix);
  std::set<std::string> expected = {"bin/pflab", "lib/pflab/libpflab_record.so", "include/pflab/plugin.h"};
#ifdef PFLAB_HAVE_PYTHON
  expected.insert("lib/pflab/libpflab_python.so");
#endif
  CHECK(installed == expected);

  // Moved away from where it was installed, and run from a third folder.
  const fs::path moved = dir / "elsewhere" / "pflab-moved";
  fs::create_directories(moved.parent_path());
  fs::rename(prefix, moved);
  const fs::path work = dir / "work";
  fs::create_directories(work);
  const std::string pflab = ShellQuote((moved / "bin" / "pflab").string());

  SECTION("profiles: the built-in ones, the same bytes as sim/profiles/profiles.json") {
    auto list = RunIn(work, pflab + " profiles");
    RequireOk(list);
    for (const char* name : {"gcs-regional ", "gcs-cross-region ", "local-fast "})
      CHECK_THAT(list.out, Catch::Contains(name));
    auto file = RunIn(work, pflab + " profiles --file");
    RequireOk(file);
    CHECK(file.out == Slurp(fs::path(PFLAB_SOURCE_DIR) / "sim" / "profiles" / "profiles.json"));
  }

  SECTION("gen, then compare with an HTML report that holds the charting libraries' code") {
    RequireOk(RunIn(work, pflab + " gen sequential --object-size 16MiB --read-size 1MiB --count 16 -o seq.jsonl"));
    auto cmp = RunIn(work, pflab +
                               " compare seq.jsonl --policies 'fsspec-readahead(blocksize=4MiB)' --verify-bytes -q "
                               "--html out.html --json out.json");
    RequireOk(cmp);
    CHECK_THAT(cmp.out, Catch::Contains("fsspec-readahead(blocksize=4MiB)"));
    const std::string html = Slurp(work / "out.html");
    const fs::path modules = fs::path(PFLAB_SOURCE_DIR) / "reports" / "js" / "node_modules";
    for (const char* bundle :
         {"vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js"}) {
      INFO(bundle);
      const std::string code = Slurp(modules / bundle);
      REQUIRE(code.size() > 10'000);
      CHECK(html.find(code) != std::string::npos);  // the whole bundle, byte for byte
    }
    CHECK_THAT(html, Catch::Contains("vegaEmbed("));
  }

#ifdef PFLAB_HAVE_PYTHON
  SECTION("a py: policy, with the Python bridge installed beside the tool") {
    RequireOk(RunIn(work, pflab + " gen sequential --object-size 16MiB --read-size 1MiB --count 16 -o seq.jsonl"));
    auto cmp = RunIn(work, pflab +
                               " compare seq.jsonl --policies 'py:fsspec.caching:ReadAheadCache(blocksize=4MiB)' "
                               "--verify-bytes -q");
    RequireOk(cmp);
    CHECK_THAT(cmp.out, Catch::Contains("py:fsspec.caching:ReadAheadCache(blocksize=4MiB)"));
  }
#endif

  SECTION("record a small program, with the recorder installed beside the tool; without it, a clear error") {
    {
      std::ofstream data(work / "data.bin", std::ios::binary);
      for (int i = 0; i < 256 * 1024; ++i) data.put(static_cast<char>(i * 7));
    }
    const std::string prog = ShellQuote(std::string(PFLAB_RECORDER_PROGS) + "/rec_io_plain");
    RequireOk(RunIn(work, pflab + " record -o rec.jsonl --file '*.bin' -- " + prog + " data.bin"));
    auto trace = traces::ReadTrace((work / "rec.jsonl").string());
    REQUIRE(trace.ok());
    REQUIRE(trace->objects.size() == 1);
    CHECK(trace->objects[0].name == "data.bin");
    CHECK(trace->records.size() == 8);  // the reads recorder_test.cc lists for this program

    fs::remove(moved / "lib" / "pflab" / "libpflab_record.so");
    auto missing = RunIn(work, pflab + " record -o rec2.jsonl -- " + prog + " data.bin");
    CHECK(missing.exit_code != 0);
    CHECK_THAT(missing.err, Catch::Contains("libpflab_record.so was not found"));
    CHECK_THAT(missing.err, Catch::Contains((moved / "lib" / "pflab" / "libpflab_record.so").string()));
  }

  SECTION("the Debian package holds the installed files under /usr, and its pflab runs") {
    const fs::path out = dir / "deb";
    RequireOk(RunIn(dir, ShellQuote(PFLAB_CPACK_COMMAND) + " -G DEB --config " +
                             ShellQuote(std::string(PFLAB_BINARY_DIR) + "/CPackConfig.cmake") + " -B " +
                             ShellQuote(out.string())));
    std::vector<fs::path> debs;
    for (const auto& entry : fs::directory_iterator(out)) {
      if (entry.path().extension() == ".deb") debs.push_back(entry.path());
    }
    REQUIRE(debs.size() == 1);
    const std::string deb = ShellQuote(debs[0].string());

    auto contents = RunIn(dir, "dpkg-deb -c " + deb);
    RequireOk(contents);
    std::set<std::string> files;  // regular files: lines starting "-rw..."; the path is the last field
    std::istringstream lines(contents.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] != '-') continue;
      std::string path = line.substr(line.rfind(' ') + 1);
      if (path.rfind("./usr/", 0) == 0) path = path.substr(6);
      files.insert(path);
    }
    CHECK(files == installed);

    auto depends = RunIn(dir, "dpkg-deb -f " + deb + " Depends");
    RequireOk(depends);
    CHECK_THAT(depends.out, Catch::Contains("libc6"));

    // Unpacked into a folder (not installed system-wide), the package's pflab works too.
    const fs::path unpacked = dir / "unpacked";
    RequireOk(RunIn(dir, "dpkg-deb -x " + deb + " " + ShellQuote(unpacked.string())));
    auto profiles = RunIn(work, ShellQuote((unpacked / "usr" / "bin" / "pflab").string()) + " profiles");
    RequireOk(profiles);
    CHECK_THAT(profiles.out, Catch::Contains("gcs-regional "));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pflab::testing
