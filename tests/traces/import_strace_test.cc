// The strace importer: real recordings (fixtures made here with strace 6.1 on a C program with two
// threads and on CPython; their sources are next to them) and hand-written lines for the corners.
#include "traces/import_strace.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;
using pflab::traces::ImportStrace;
using pflab::traces::ImportStraceFile;
using pflab::traces::StraceImportOptions;
using pflab::traces::Trace;
using pflab::traces::TraceRecord;

const std::string kFixtures = std::string(PFLAB_SOURCE_DIR) + "/tests/traces/fixtures/";

StraceImportOptions Options(const std::string& file) {
  StraceImportOptions o;
  o.file = file;
  o.stat_sizes = false;  // the results must not depend on which paths exist on this machine
  return o;
}

pflab::Result<Trace> Import(const std::string& text, const std::string& file = "") {
  std::istringstream in(text);
  return ImportStrace(in, "in.strace", Options(file));
}

// (stream, offset, length) of the records, in trace order.
std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>> Reads(const Trace& t) {
  std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>> out;
  for (const auto& r : t.records) out.emplace_back(r.stream, r.offset, r.length);
  return out;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> StreamReads(const Trace& t, std::uint32_t stream) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& r : t.records) {
    if (r.stream == stream) out.emplace_back(r.offset, r.length);
  }
  return out;
}

// Writes a trace and reads it back, so every test also checks the output is valid trace v1.
Trace RoundTrip(const Trace& trace) {
  const fs::path path = fs::temp_directory_path() / ("pflab_import_strace_" + std::to_string(::getpid()) + ".jsonl");
  REQUIRE(pflab::traces::WriteTrace(path.string(), trace));
  auto back = pflab::traces::ReadTrace(path.string());
  fs::remove(path);
  INFO((back ? "" : back.error().message));
  REQUIRE(back);
  return *back;
}

}  // namespace

TEST_CASE("strace import: C program with read, lseek, readv, preadv, pread64 and two threads", "[traces][import]") {
  auto trace = ImportStraceFile(kFixtures + "strace_c_threads.txt", Options("data.bin"));
  INFO((trace ? "" : trace.error().message));
  REQUIRE(trace);
  const Trace t = RoundTrip(*trace);
  REQUIRE(t.objects.size() == 1);
  CHECK(t.objects[0].name == "tmp/pflab_fixture_data/data.bin");
  // lseek(fd, -100, SEEK_END) = 99900 revealed the size.
  CHECK(t.objects[0].size == 100000);
  CHECK(trace->source["objects"]["o0"]["size_from"] == "lseek SEEK_END");
  // Main thread: read, read, seek+read, seek-from-end+short read, EOF (no record), seek, seek-cur +
  // readv at 30, preadv at 90000, short pread64; the EBADF read makes no record.
  CHECK(StreamReads(t, 0) ==
        std::vector<std::pair<std::uint64_t, std::uint64_t>>{
            {0, 1000}, {1000, 2000}, {50000, 4096}, {99900, 100}, {30, 1000}, {90000, 1000}, {99000, 1000}});
  // Two threads, each its own fd and 16 preads of 4096 every 2048 bytes, mostly interrupted by the other.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> first, second;
  for (std::uint64_t i = 0; i < 16; ++i) {
    first.emplace_back(i * 2048, 4096);
    second.emplace_back(40000 + i * 2048, 4096);
  }
  CHECK(StreamReads(t, 1) == first);
  CHECK(StreamReads(t, 2) == second);
  REQUIRE(t.records.size() == 39);
  // Times: the first read (line 17) is t=0 with its -T duration; the first interrupted pread64 takes
  // the time of its '<unfinished ...>' line (34), not of the resume, and the resumed line's duration.
  CHECK(t.records[0].t_ns == 0);
  CHECK(t.records[0].duration_ns == 19000);
  const auto it = std::find_if(t.records.begin(), t.records.end(), [](const TraceRecord& r) { return r.stream == 1; });
  REQUIRE(it != t.records.end());
  CHECK(it->t_ns == 1795618986745591LL * 1000 - 1795618986742856LL * 1000);
  CHECK(it->duration_ns == 81000);
  for (std::size_t i = 1; i < t.records.size(); ++i) CHECK(t.records[i].t_ns >= t.records[i - 1].t_ns);
}

TEST_CASE("strace import: CPython buffered and unbuffered reads, one stream per thread", "[traces][import]") {
  auto trace = ImportStraceFile(kFixtures + "strace_python.txt", Options("/tmp/pflab_fixture_data/data.bin"));
  INFO((trace ? "" : trace.error().message));
  REQUIRE(trace);
  const Trace t = RoundTrip(*trace);
  REQUIRE(t.objects.size() == 1);
  CHECK(t.objects[0].size == 100000);
  using V = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  // f.read(100) -> read(4096); seek(60000)+read(10000) -> 8192 + 4096; seek(-10, 2)+read() -> 10 bytes.
  CHECK(StreamReads(t, 0) == V{{0, 4096}, {60000, 8192}, {68192, 4096}, {99990, 10}});
  CHECK(StreamReads(t, 1) == V{{0, 8192}, {8192, 8192}, {16384, 8192}});
  CHECK(StreamReads(t, 2) == V{{8192, 8192}, {16384, 8192}, {24576, 8192}});
  CHECK(t.records.size() == 10);
}

TEST_CASE("strace import: without --file every file read is an object; --file by basename and glob",
          "[traces][import]") {
  auto all = ImportStraceFile(kFixtures + "strace_python.txt", Options(""));
  INFO((all ? "" : all.error().message));
  REQUIRE(all);
  const Trace t = RoundTrip(*all);
  CHECK(t.objects.size() > 5);  // the interpreter's shared libraries and modules too
  std::size_t data_objects = 0;
  for (const auto& o : t.objects) {
    CHECK(o.name.rfind("dev/", 0) != 0);
    CHECK(o.name.rfind("proc/", 0) != 0);
    data_objects += o.name == "tmp/pflab_fixture_data/data.bin";
  }
  CHECK(data_objects == 1);

  auto by_basename = ImportStraceFile(kFixtures + "strace_python.txt", Options("data.bin"));
  auto by_glob = ImportStraceFile(kFixtures + "strace_python.txt", Options("/tmp/*/data.*"));
  REQUIRE(by_basename);
  REQUIRE(by_glob);
  CHECK(Reads(*by_basename) == Reads(*by_glob));
  CHECK(by_basename->records.size() == 10);

  auto none = ImportStraceFile(kFixtures + "strace_python.txt", Options("nothing.bin"));
  REQUIRE_FALSE(none);
  CHECK_THAT(none.error().message, Catch::Contains("no reads of a file matching 'nothing.bin'"));
  CHECK_THAT(none.error().message, Catch::Contains("data.bin"));
}

TEST_CASE("strace import: sqlite3 with temporary files read after their unlink", "[traces][import]") {
  // strace_sqlite.txt: strace 6.1 of `sqlite3 db.sqlite < strace_sqlite.sql`. The sort spills to two
  // temporary files that SQLite unlinks at once, so every read of them shows "4</var/tmp/etilqs_...>(deleted)";
  // that stopped the import ("cannot read the file descriptor") even with --file naming the database.
  auto db = ImportStraceFile(kFixtures + "strace_sqlite.txt", Options("db.sqlite"));
  INFO((db ? "" : db.error().message));
  REQUIRE(db);
  const Trace only_db = RoundTrip(*db);
  REQUIRE(only_db.objects.size() == 1);
  CHECK(only_db.objects[0].name == "tmp/imp_fx/db.sqlite");
  CHECK(only_db.records.size() == 252);  // grep 'pread64(3</tmp/imp_fx/db.sqlite>' | = N with N > 0

  // The temporary files are files of their own, named as they were before the unlink, one position
  // each (openat's before the unlink, the reads' after).
  auto temp = ImportStraceFile(kFixtures + "strace_sqlite.txt", Options("*/etilqs_*"));
  INFO((temp ? "" : temp.error().message));
  REQUIRE(temp);
  const Trace t = RoundTrip(*temp);
  REQUIRE(t.objects.size() == 2);
  std::map<std::string, std::size_t> reads;
  for (const auto& r : t.records) ++reads[t.objects[r.object].name];
  CHECK(reads["var/tmp/etilqs_8bbf7ecbdbdd1966"] == 230);
  CHECK(reads["var/tmp/etilqs_ef34b94eacb5f06f"] == 250);
  for (const auto& [id, info] : temp->source["objects"].items()) {
    CHECK(info["deleted"] == true);
    CHECK(info["size_from"] == "largest end read");  // the path may name another file now: no stat
  }

  auto all = ImportStraceFile(kFixtures + "strace_sqlite.txt", Options(""));
  INFO((all ? "" : all.error().message));
  REQUIRE(all);
  CHECK(all->records.size() > 252 + 480);  // and the shared libraries and /etc files
  // The SQL came on stdin, opened by the shell before strace: its reads have no position and are
  // left out, counted, rather than stopping an import that did not ask for that file.
  CHECK(all->source["unplaced_reads"] == nlohmann::json{{"/tmp/imp_fx/strace_sqlite.sql", 1}});
  auto asked = ImportStraceFile(kFixtures + "strace_sqlite.txt", Options("strace_sqlite.sql"));
  REQUIRE_FALSE(asked);
  CHECK_THAT(asked.error().message, Catch::Contains(":64: read on fd 0 (/tmp/imp_fx/strace_sqlite.sql) whose position "
                                                    "is unknown"));

  // Both ways strace has shown an unlinked file's fd: after the '>' (5.x and later) and inside it.
  auto inside = Import(
      "1 1.0 openat(AT_FDCWD, \"/t/x\", O_RDWR|O_CREAT) = 3</t/x> <0.1>\n"
      "1 1.1 read(3</t/x (deleted)>, \"\"..., 8) = 8 <0.1>\n"
      "1 1.2 read(3</t/x>(deleted), \"\"..., 8) = 8 <0.1>\n");
  INFO((inside ? "" : inside.error().message));
  REQUIRE(inside);
  CHECK(Reads(*inside) == std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>>{{0, 0, 8}, {0, 8, 8}});
  // A malformed call on a file that is not kept cannot stop the import.
  auto other = Import(
      "1 1.0 openat(AT_FDCWD, \"/keep\", O_RDONLY) = 3</keep> <0.1>\n"
      "1 1.1 pread64(4</other>, \"\"..., 8, lots) = 8 <0.1>\n"
      "1 1.2 read(3</keep>, \"\"..., 8) = 8 <0.1>\n",
      "keep");
  INFO((other ? "" : other.error().message));
  REQUIRE(other);
  CHECK(other->records.size() == 1);
}

TEST_CASE("strace import: unfinished/resumed pairs, shared positions, errors and EOF", "[traces][import]") {
  const std::string text =
      "100 1.000000 openat(AT_FDCWD</w>, \"/d/f\", O_RDONLY) = 3</d/f> <0.000010>\n"
      "100 1.000100 read(3</d/f>,  <unfinished ...>\n"
      "101 1.000200 pread64(3</d/f>, \"\"..., 10, 500) = 10 <0.000050>\n"
      "100 1.000300 <... read resumed>\"\"..., 4096) = 4096 <0.000200>\n"
      "101 1.000350 read(3</d/f>, \"\"..., 4) = 4 <0.000001>\n"  // another thread: the same fd's position
      "100 1.000400 read(3</d/f>, \"\"..., 4096) = -1 EAGAIN (Resource temporarily unavailable) <0.000001>\n"
      "100 1.000500 read(3</d/f>, \"\"..., 4096) = 100 <0.000001>\n"
      "100 1.000600 read(3</d/f>, \"\", 4096) = 0 <0.000001>\n"
      "100 1.000650 read(3</d/f>,  <unfinished ...>\n"
      "100 1.000700 <... read resumed> <unfinished ...>) = ?\n"  // killed inside the call: nothing known
      "100 1.000800 +++ killed by SIGKILL +++\n";
  auto trace = Import(text);
  INFO((trace ? "" : trace.error().message));
  REQUIRE(trace);
  REQUIRE(trace->objects.size() == 1);
  CHECK(trace->objects[0].name == "d/f");
  CHECK(trace->objects[0].size == 4200);  // the largest end read: no lseek SEEK_END, no stat
  CHECK(Reads(*trace) == std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>>{
                             {0, 0, 4096}, {1, 500, 10}, {1, 4096, 4}, {0, 4100, 100}});
  CHECK(trace->records[0].t_ns == 0);
  CHECK(trace->records[0].duration_ns == 200000);
  CHECK(trace->records[1].t_ns == 100000);
  CHECK(trace->records[3].t_ns == 400000);
}

TEST_CASE("strace import: [pid N] prefixes (no -o) and lines without a pid (no -f)", "[traces][import]") {
  auto bracketed = Import(
      "1.5 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3</x> <0.000010>\n"
      "strace: Process 7 attached\n"
      "[pid     7] 1.6 read(3</x>, \"\"..., 8) = 8 <0.000010>\n"
      "1.7 read(3</x>, \"\"..., 8) = 8 <0.000010>\n");
  INFO((bracketed ? "" : bracketed.error().message));
  REQUIRE(bracketed);
  CHECK(Reads(*bracketed) ==
        std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>>{{0, 0, 8}, {1, 8, 8}});
  CHECK(bracketed->records[1].t_ns == 100000000);
}

TEST_CASE("strace import: bad input is an error naming the file and line", "[traces][import]") {
  const std::string open = "1 1.0 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3</x> <0.1>\n";
  auto garbage = Import(open + "this is not strace\n");
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error().message, Catch::StartsWith("in.strace:2: expected an epoch timestamp"));

  auto no_y = Import(open + "1 1.1 read(3, \"\"..., 8) = 8 <0.1>\n");
  REQUIRE_FALSE(no_y);
  CHECK_THAT(no_y.error().message, Catch::StartsWith("in.strace:2: read on fd 3 without its path"));

  auto unknown_position = Import("1 1.0 read(5</y>, \"\"..., 8) = 8 <0.1>\n", "y");  // (without --file: left out)
  REQUIRE_FALSE(unknown_position);
  CHECK_THAT(unknown_position.error().message,
             Catch::StartsWith("in.strace:1: read on fd 5 (/y) whose position is unknown"));

  auto orphan = Import(open + "2 1.1 <... read resumed>\"\"..., 8) = 8 <0.1>\n");
  REQUIRE_FALSE(orphan);
  CHECK_THAT(orphan.error().message, Catch::StartsWith("in.strace:2: 'read resumed' without its '<unfinished ...>'"));

  auto cut = Import(open + "1 1.1 pread64(3</x>,  <unfinished ...>\n");
  REQUIRE_FALSE(cut);
  CHECK_THAT(cut.error().message, Catch::StartsWith("in.strace:2: pread64 never resumed"));

  auto bad_offset = Import(open + "1 1.1 pread64(3</x>, \"\"..., 8, lots) = 8 <0.1>\n");
  REQUIRE_FALSE(bad_offset);
  CHECK_THAT(bad_offset.error().message, Catch::StartsWith("in.strace:2: pread64: argument 4 is not a number"));

  auto no_reads = Import(open);
  REQUIRE_FALSE(no_reads);
  CHECK_THAT(no_reads.error().message, Catch::StartsWith("in.strace: no file reads found"));
}

TEST_CASE("pflab import strace: the CLI writes a valid trace; a bad line exits 1 naming FILE:LINE",
          "[traces][import][cli]") {
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  const fs::path dir = fs::temp_directory_path() / ("pflab_import_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "c.jsonl").string();
  const std::string cmd = std::string(cli) + " import strace " + kFixtures +
                          "strace_c_threads.txt --file data.bin -o " + out + " 2>" + (dir / "err").string();
  int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto t = pflab::traces::ReadTrace(out);
  REQUIRE(t);
  CHECK(t->records.size() == 39);
  CHECK(t->source["importer"] == "strace");
  CHECK(t->source["input"] == kFixtures + "strace_c_threads.txt");

  const std::string bad = (dir / "bad.strace").string();
  std::ofstream(bad) << "1 1.0 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3</x> <0.1>\n1 1.1 read(3, \"\"..., 8) = 8\n";
  status =
      std::system((std::string(cli) + " import strace " + bad + " -o " + out + " 2>" + (dir / "err").string()).c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  std::ifstream err(dir / "err");
  std::string first_line;
  std::getline(err, first_line);
  CHECK_THAT(first_line, Catch::StartsWith(bad + ":2: "));
  fs::remove_all(dir);
}

// Found by fuzz/import_strace_fuzz.cc: a path that is not UTF-8 made an importable trace whose writing
// threw (nlohmann's type_error 316), so `pflab import strace` died with an uncaught exception.
TEST_CASE("strace import: a path that is not UTF-8 is an error naming the line, not a crash", "[traces][import]") {
  auto trace = Import(
      "1 1.0 openat(AT_FDCWD, \"/d/\xff.bin\", O_RDONLY) = 3</d/\xff.bin> <0.1>\n"
      "1 1.1 read(3</d/\xff.bin>, \"\"..., 8) = 8 <0.1>\n");
  REQUIRE_FALSE(trace);
  CHECK(trace.error().message ==
        "in.strace:2: object name 'd/\\xff.bin' is not valid UTF-8 (trace files and GCS "
        "object names are UTF-8)");
  // Well-formed multi-byte UTF-8 stays a valid name, and the trace writes.
  auto utf8 = Import(
      "1 1.0 openat(AT_FDCWD, \"/d/\xc3\xa9t\xc3\xa9.bin\", O_RDONLY) = 3</d/\xc3\xa9t\xc3\xa9.bin> <0.1>\n"
      "1 1.1 read(3</d/\xc3\xa9t\xc3\xa9.bin>, \"\"..., 8) = 8 <0.1>\n");
  REQUIRE(utf8);
  CHECK(utf8->objects[0].name == "d/\xc3\xa9t\xc3\xa9.bin");
  std::ostringstream written;
  pflab::traces::WriteTrace(written, *utf8);
  CHECK(written.str().find("\xc3\xa9t\xc3\xa9.bin") != std::string::npos);
  // Overlong forms and encoded surrogates are not UTF-8 either.
  for (const std::string name : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    auto bad = Import("1 1.0 openat(AT_FDCWD, \"/" + name + "\", O_RDONLY) = 3</" + name + "> <0.1>\n" +
                      "1 1.1 read(3</" + name + ">, \"\"..., 8) = 8 <0.1>\n");
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("is not valid UTF-8"));
  }
}
