// The LD_PRELOAD recorder end to end: programs whose reads are known in advance (tests/traces/
// recorder_progs/) run under `pflab record`, and the trace must list exactly those reads. Also the raw
// format converter on its own.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/cli_runner.h"
#include "traces/recorder/raw_format.h"
#include "traces/recording.h"
#include "traces/trace_io.h"

namespace pflab::traces {
namespace {

namespace fs = std::filesystem;

using Outcome = pflab::testing::CliOutcome;
using pflab::testing::Slurp;
const auto& Quote = pflab::testing::ShellQuote;

fs::path TempDir() {
  return pflab::testing::FreshTempDir("pflab_recorder_test");
}

Outcome Pflab(const std::string& args, const fs::path& dir, const std::string& stdin_text = "") {
  return pflab::testing::RunPflab(args, dir, {.env = "", .stdin_text = stdin_text, .in_dir = false});
}

void WriteData(const fs::path& path, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  for (std::size_t i = 0; i < size; ++i) out.put(static_cast<char>((i * 131 + i / 4096) & 0xff));
}

std::string Prog(const std::string& name) {
  return std::string(PFLAB_RECORDER_PROGS) + "/" + name;
}

using Range = std::pair<std::uint64_t, std::uint64_t>;  // offset, length

std::vector<Range> Ranges(const Trace& t) {
  std::vector<Range> out;
  for (const auto& r : t.records) out.emplace_back(r.offset, r.length);
  return out;
}

// Each stream's reads in order, keyed by stream id.
std::map<std::uint32_t, std::vector<Range>> ByStream(const Trace& t) {
  std::map<std::uint32_t, std::vector<Range>> out;
  for (const auto& r : t.records) out[r.stream].emplace_back(r.offset, r.length);
  return out;
}

Trace Record(const fs::path& dir, const std::string& command, int expect_exit = 0,
             const std::string& files = "'*.bin'") {
  const std::string out = (dir / "trace.jsonl").string();
  auto o = Pflab("record -o " + out + (files.empty() ? "" : " --file " + files) + " -- " + command, dir);
  INFO(o.err);
  REQUIRE(o.exit_code == expect_exit);
  auto trace = ReadTrace(out);
  if (!trace) FAIL(trace.error().message);
  return *trace;
}

TEST_CASE("recorder: a C program's read, pread, readv, preadv and stdio reads, fortified and plain", "[recorder]") {
  // What reaches the file: stdio with a 4 KiB buffer refills whole blocks; glibc's fseek to an
  // unaligned offset reads the aligned block around it; the read at EOF returns 0 and is left out.
  const std::vector<Range> expected = {{0, 1000},     {4096, 500}, {10000, 2000}, {12000, 1000},
                                       {20000, 2000}, {0, 4096},   {28672, 4096}, {32768, 8192}};
  for (const char* prog : {"rec_io_fortified", "rec_io_plain"}) {
    INFO(prog);
    const fs::path dir = TempDir();
    WriteData(dir / "data.bin", 256 * 1024);
    const Trace t = Record(dir, Prog(prog) + " " + (dir / "data.bin").string());
    CHECK(Ranges(t) == expected);
    REQUIRE(t.objects.size() == 1);
    CHECK(t.objects[0].name == "data.bin");
    CHECK(t.objects[0].size == 256 * 1024);
    for (const auto& r : t.records) {
      CHECK(r.stream == 0);
      CHECK(r.duration_ns >= 0);
    }
    CHECK(t.records.front().t_ns == 0);
    CHECK(t.source["eof_reads_dropped"] == 1);
    CHECK(t.source["ops"] ==
          nlohmann::json{{"read", 2}, {"pread", 1}, {"readv", 1}, {"preadv", 1}, {"fread", 2}, {"fseek", 1}});
    CHECK(t.source["paths"]["o0"] == (dir / "data.bin").string());
  }
}

TEST_CASE("recorder: four threads' preads become four streams, each in its thread's order", "[recorder]") {
  const fs::path dir = TempDir();
  WriteData(dir / "data.bin", 256 * 1024);
  const Trace t = Record(dir, Prog("rec_threads") + " " + (dir / "data.bin").string());
  const auto streams = ByStream(t);
  REQUIRE(streams.size() == 4);
  std::set<std::uint64_t> first_blocks;
  for (const auto& [id, reads] : streams) {
    REQUIRE(reads.size() == 8);
    const std::uint64_t first = reads[0].first / 4096;
    CHECK(first % 8 == 0);
    for (std::size_t k = 0; k < reads.size(); ++k) CHECK(reads[k] == Range{(first + k) * 4096, 4096});
    first_blocks.insert(first);
  }
  CHECK(first_blocks == std::set<std::uint64_t>{0, 8, 16, 24});
  CHECK(t.source["streams"] == 4);
}

TEST_CASE("recorder: a Python program, its subprocess, and its exit status", "[recorder]") {
  const fs::path dir = TempDir();
  WriteData(dir / "data.bin", 256 * 1024);
  const std::string script = std::string(PFLAB_SOURCE_DIR) + "/tests/traces/recorder_progs/reader.py";
  const Trace t = Record(dir, "/usr/bin/python3 " + script + " " + (dir / "data.bin").string(), 3);
  const auto streams = ByStream(t);
  REQUIRE(streams.size() == 2);
  CHECK(streams.at(0) == std::vector<Range>{{0, 1000}, {5000, 3000}, {65536, 4096}});
  CHECK(streams.at(1) == std::vector<Range>{{100000, 100}});
  CHECK(t.source["exit_status"] == 3);
  CHECK(t.source["processes"].get<int>() >= 2);
}

TEST_CASE("recorder: a read that crosses EOF keeps the length it asked for", "[recorder][eof]") {
  // fsspec passes offset + length to its caches uncut at EOF, and fsspec-bytes decides on it: the
  // trace must say what the program asked for, not only what the file returned.
  const fs::path dir = TempDir();
  WriteData(dir / "data.bin", 10000);
  const std::string file = (dir / "data.bin").string();
  const std::string program =
      "import os\n"
      "fd = os.open('" +
      file +
      "', os.O_RDONLY)\n"
      "assert len(os.pread(fd, 4096, 9000)) == 1000\n"
      "assert len(os.pread(fd, 500, 0)) == 500\n"
      "os.lseek(fd, 8000, os.SEEK_SET)\n"
      "assert len(os.read(fd, 65536)) == 2000\n"
      "assert len(os.read(fd, 65536)) == 0\n";
  std::ofstream(dir / "eof.py") << program;
  const Trace t = Record(dir, "/usr/bin/python3 " + (dir / "eof.py").string());
  REQUIRE(t.records.size() == 3);
  CHECK(Ranges(t) == std::vector<Range>{{9000, 1000}, {0, 500}, {8000, 2000}});
  CHECK(t.records[0].asked() == 4096);
  CHECK(t.records[1].asked() == 500);
  CHECK(t.records[2].asked() == 65536);
  CHECK(t.objects[0].size == 10000);
  CHECK(t.source["eof_reads_dropped"] == 1);
  // And the JSONL form carries it.
  CHECK(Slurp(dir / "trace.jsonl").find(R"("offset":9000,"length":1000,"asked":4096)") != std::string::npos);
}

TEST_CASE("recorder: a forked child's reads before and after exec form its own stream", "[recorder]") {
  const fs::path dir = TempDir();
  WriteData(dir / "data.bin", 64 * 1024);
  const Trace t = Record(dir, Prog("rec_fork_exec") + " " + (dir / "data.bin").string());
  const auto streams = ByStream(t);
  REQUIRE(streams.size() == 2);
  CHECK(streams.at(0) == std::vector<Range>{{0, 1000}, {3000, 1000}});
  CHECK(streams.at(1) == std::vector<Range>{{1000, 1000}, {2000, 1000}});
  CHECK(t.source["processes"] == 3);  // the parent, the forked child, the exec'd image
}

TEST_CASE("recorder: --file records only matching files; without it, no system files", "[recorder]") {
  const fs::path dir = TempDir();
  WriteData(dir / "a.bin", 10000);
  WriteData(dir / "b.txt", 20000);
  const std::string code = "import sys; [open(p, \"rb\", buffering=0).read(5000) for p in sys.argv[1:]]";
  const std::string cmd =
      "/usr/bin/python3 -c " + Quote(code) + " " + (dir / "a.bin").string() + " " + (dir / "b.txt").string();
  const Trace only_bin = Record(dir, cmd);
  REQUIRE(only_bin.objects.size() == 1);
  CHECK(only_bin.objects[0].name == "a.bin");
  CHECK(Ranges(only_bin) == std::vector<Range>{{0, 5000}});

  const Trace by_path = Record(dir, cmd, 0, Quote((dir / "b.*").string()));
  REQUIRE(by_path.objects.size() == 1);
  CHECK(by_path.objects[0].name == "b.txt");

  const Trace all = Record(dir, cmd, 0, "");
  REQUIRE(all.objects.size() == 2);  // the interpreter's own files under /usr are not recorded
  CHECK(all.objects[0].name == "a.bin");
  CHECK(all.objects[1].name == "b.txt");
  CHECK(Ranges(all) == std::vector<Range>{{0, 5000}, {0, 5000}});
}

TEST_CASE("recorder: an mmap'd file gets one clear warning and a note in the header", "[recorder]") {
  const fs::path dir = TempDir();
  WriteData(dir / "data.bin", 8192);
  const std::string out = (dir / "trace.jsonl").string();
  auto o =
      Pflab("record -o " + out + " --file '*.bin' -- " + Prog("rec_mmap") + " " + (dir / "data.bin").string(), dir);
  REQUIRE(o.exit_code == 0);
  const std::string warning =
      "pflab record: " + (dir / "data.bin").string() + " is mmap'd; reads through the mapping are not recorded";
  CHECK(o.err.find(warning) != std::string::npos);
  CHECK(o.err.find(warning, o.err.find(warning) + 1) == std::string::npos);
  auto t = ReadTrace(out);
  REQUIRE(t.ok());
  CHECK(Ranges(*t) == std::vector<Range>{{0, 100}});
  CHECK(t->source["mmap_unrecorded"] == nlohmann::json::array({(dir / "data.bin").string()}));
}

TEST_CASE("recorder: exit status, signals, stdin and stdout pass through", "[recorder]") {
  const fs::path dir = TempDir();
  WriteData(dir / "data.bin", 5000);
  const std::string out = (dir / "trace.jsonl").string();
  const std::string data = (dir / "data.bin").string();
  auto ok = Pflab("record -o " + out + " --file '*.bin' -- /bin/sh -c " +
                      Quote("read line; cat " + data + " >/dev/null; echo got:$line; echo to-stderr >&2; exit 7"),
                  dir, "hello\n");
  CHECK(ok.exit_code == 7);
  CHECK(ok.out == "got:hello\n");
  CHECK(ok.err.find("to-stderr") != std::string::npos);
  auto t = ReadTrace(out);
  REQUIRE(t.ok());
  std::uint64_t bytes = 0;
  for (const auto& r : t->records) bytes += r.length;
  CHECK(bytes == 5000);  // cat read the whole file, however it chose to
  CHECK(t->source["exit_status"] == 7);

  auto killed = Pflab("record -o " + out + " -- /bin/sh -c " + Quote("kill -TERM $$"), dir);
  CHECK(killed.exit_code == 128 + SIGTERM);
  auto missing = Pflab("record -o " + out + " -- /nonexistent/program", dir);
  CHECK(missing.exit_code == 127);
  CHECK(missing.err.find("cannot run '/nonexistent/program'") != std::string::npos);
  auto nothing = Pflab("record -o " + (dir / "none.jsonl").string() + " --file '*.nomatch' -- /bin/true", dir);
  CHECK(nothing.exit_code == 1);
  CHECK(nothing.err.find("no reads of matching files were recorded") != std::string::npos);
  CHECK(!fs::exists(dir / "none.jsonl"));
}

RawReadEvent Event(const std::string& path, std::uint32_t pid, std::uint32_t tid, std::int64_t t, std::uint64_t offset,
                   std::uint64_t length, int error = 0) {
  RawReadEvent e;
  e.path = path;
  e.pid = pid;
  e.tid = tid;
  e.op = "pread";
  e.t_issue_ns = t;
  e.t_done_ns = t + 10;
  e.offset = offset;
  e.length = length;
  e.error = error;
  return e;
}

TEST_CASE("recorder: the converter keeps the asked length only for reads that end at the end of the file",
          "[recorder][eof]") {
  RawRecording rec;
  rec.images = 1;
  rec.sizes = {{"/d/a.bin", 1000}};
  rec.reads = {Event("/d/a.bin", 1, 1, 0, 900, 100), Event("/d/a.bin", 1, 1, 10, 0, 200),
               Event("/d/a.bin", 1, 1, 20, 500, 300), Event("/d/a.bin", 1, 1, 30, 0, 50)};
  rec.reads[0].asked = 4096;  // crossed EOF
  rec.reads[1].asked = 200;   // got what it asked
  rec.reads[2].asked = 400;   // short in the middle of the file (a signal, a pipe): not past EOF
  auto t = RecordingToTrace(rec, nlohmann::json::object());
  REQUIRE(t.ok());
  REQUIRE(t->records.size() == 4);
  CHECK(t->records[0].asked() == 4096);
  CHECK(t->records[1].asked() == 200);
  CHECK(t->records[2].asked() == 300);
  CHECK(t->records[3].asked() == 50);  // not known (a stdio refill): what it returned
  CHECK(t->source["short_reads"] == 1);
}

TEST_CASE(
    "recorder: the converter makes streams per (process, thread), names below the common folder, EOF reads dropped",
    "[recorder]") {
  RawRecording rec;
  rec.images = 2;
  rec.sizes = {{"/data/x/a.bin", 100}, {"/data/y/b.bin", 50}};
  rec.reads = {Event("/data/y/b.bin", 7, 8, 1500, 0, 40), Event("/data/x/a.bin", 7, 7, 1000, 0, 10),
               Event("/data/x/a.bin", 9, 9, 2000, 90, 30), Event("/data/x/a.bin", 7, 7, 2500, 100, 0),
               Event("/data/x/a.bin", 7, 7, 2600, 0, 0, 5)};
  auto t = RecordingToTrace(rec, {{"command", {"prog"}}});
  REQUIRE(t.ok());
  REQUIRE(t->records.size() == 3);
  CHECK(t->records[0].t_ns == 0);
  CHECK(t->records[0].stream == 0);
  CHECK(t->records[1].t_ns == 500);
  CHECK(t->records[1].stream == 1);
  CHECK(t->records[2].stream == 2);
  CHECK(t->records[2].duration_ns == 10);
  REQUIRE(t->objects.size() == 2);
  CHECK(t->objects[0].name == "x/a.bin");
  CHECK(t->objects[0].size == 120);  // a read reached past st_size at open: the file grew
  CHECK(t->objects[1].name == "y/b.bin");
  CHECK(t->objects[1].size == 50);
  CHECK(t->source["root"] == "/data");
  CHECK(t->source["eof_reads_dropped"] == 1);
  CHECK(t->source["failed_reads_dropped"] == 1);
  CHECK(t->source["command"] == nlohmann::json::array({"prog"}));

  RawRecording eof_only;
  eof_only.reads = {Event("/a", 1, 1, 0, 0, 0)};
  auto none = RecordingToTrace(eof_only, {});
  REQUIRE(!none.ok());
  CHECK(none.error().message.find("no reads of matching files were recorded") != std::string::npos);
}

TEST_CASE("recorder: the converter checks raw files; a record cut short by a killed process is a warning",
          "[recorder]") {
  const fs::path dir = TempDir();
  recorder::RawFile file{};
  file.h = {static_cast<std::uint32_t>(recorder::RawKind::kFile), sizeof file};
  file.magic = recorder::kRawMagic;
  file.version = recorder::kRawVersion;
  file.pid = 42;
  const std::string path = "/d/f.bin";
  recorder::RawOpen open{};
  open.h = {static_cast<std::uint32_t>(recorder::RawKind::kOpen), static_cast<std::uint32_t>(sizeof open + 8)};
  open.open_id = 0;
  open.path_bytes = static_cast<std::uint32_t>(path.size());
  open.size = 4096;
  recorder::RawRead read{};
  read.h = {static_cast<std::uint32_t>(recorder::RawKind::kRead), sizeof read};
  read.tid = 42;
  read.op = static_cast<std::uint16_t>(recorder::RawOp::kRead);
  read.offset = 100;
  read.length = 200;
  {
    std::ofstream out(dir / "raw.42.0", std::ios::binary);
    out.write(reinterpret_cast<const char*>(&file), sizeof file);
    out.write(reinterpret_cast<const char*>(&open), sizeof open);
    out.write((path + std::string(8 - path.size() % 8, '\0')).data(), 8);
    out.write(reinterpret_cast<const char*>(&read), sizeof read);
    out.write(reinterpret_cast<const char*>(&read), 20);  // cut short
  }
  auto rec = ReadRawRecording(dir.string());
  REQUIRE(rec.ok());
  REQUIRE(rec->reads.size() == 1);
  CHECK(rec->reads[0].path == path);
  CHECK(rec->reads[0].op == "read");
  CHECK(rec->reads[0].offset == 100);
  CHECK(rec->sizes.at(path) == 4096);
  REQUIRE(rec->warnings.size() == 1);
  CHECK(rec->warnings[0].find("raw.42.0: ends inside a record") != std::string::npos);

  std::ofstream(dir / "raw.43.0", std::ios::binary) << "not a recording at all";
  auto bad = ReadRawRecording(dir.string());
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("raw.43.0") != std::string::npos);
}

}  // namespace
}  // namespace pflab::traces
