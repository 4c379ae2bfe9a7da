// The limits of traces/limits.h where values enter: the trace reader, the importers and the
// generators. Each case is input that once crashed (bad_alloc, SIGSEGV) or was accepted as nonsense;
// each must now be an error naming the file and line (or the option) and the limit.
#include "traces/limits.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "traces/generators.h"
#include "traces/import_csv.h"
#include "traces/import_gcsfs_log.h"
#include "traces/import_strace.h"
#include "traces/text_input.h"
#include "traces/trace_io.h"

namespace pflab::traces {
namespace {

namespace fs = std::filesystem;

const std::string kHeader = R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"a.bin","size":1000}]})"
                            "\n";

std::string TraceError(const std::string& text) {
  std::istringstream in(text);
  auto r = ParseTrace(in, "t.jsonl");
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

TEST_CASE("limits: trace fields beyond a limit name the line and the limit", "[traces][limits]") {
  // Stream 4000000000 made replay allocate per-stream state up to that id (bad_alloc).
  CHECK_THAT(TraceError(kHeader + R"({"t":0,"stream":4000000000,"offset":0,"length":1})"),
             Catch::StartsWith("t.jsonl:2: stream 4000000000 is not below the limit of 2^20"));
  CHECK_THAT(TraceError(kHeader + R"({"t":0,"stream":1048576,"offset":0,"length":1})"),
             Catch::StartsWith("t.jsonl:2: stream 1048576"));
  std::istringstream ok_stream(kHeader + R"({"t":0,"stream":1048575,"offset":0,"length":1})");
  CHECK(ParseTrace(ok_stream, "t.jsonl").ok());

  CHECK_THAT(TraceError(R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","size":18446744073709551615}]})"),
             Catch::StartsWith("t.jsonl:1: objects[0]: object size 18446744073709551615 is above the limit of 2^50"));
  std::istringstream max_size(R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","size":1125899906842624}]})"
                              "\n{\"t\":0,\"offset\":1125899906842623,\"length\":1}\n");
  CHECK(ParseTrace(max_size, "t.jsonl").ok());

  // A "t" above 2^63 used to become a negative time.
  CHECK_THAT(TraceError(kHeader + R"({"t":9223372036854775808,"offset":0,"length":1})"),
             Catch::StartsWith("t.jsonl:2: \"t\" of 9223372036854775808 ns is above the limit of 2^53 ns"));
  CHECK_THAT(TraceError(kHeader + R"({"t":0,"offset":0,"length":1,"dur":9007199254740993})"),
             Catch::StartsWith("t.jsonl:2: \"dur\" of 9007199254740993 ns is above the limit"));
  CHECK_THAT(TraceError(kHeader + R"({"t":0,"offset":0,"length":1e3})"),
             Catch::StartsWith("t.jsonl:2: \"length\" must be a non-negative integer"));
}

TEST_CASE("limits: binary input fails at once with the file and line", "[traces][limits]") {
  CHECK_THAT(TraceError(std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16)),
             Catch::StartsWith("t.jsonl:1: malformed JSON: \\x89PNG"));
  CHECK_THAT(TraceError(kHeader + std::string("{\"t\":0,\0", 8)),
             Catch::StartsWith("t.jsonl:2: NUL byte at column 8: binary data, not a text file"));
  // A line without end: stops at the limit instead of growing (the header may be 64 MiB, others 1 MiB).
  CHECK_THAT(TraceError(kHeader + std::string(kMaxLineBytes + 1, ' ')),
             Catch::StartsWith("t.jsonl:2: line longer than 1048576 bytes"));
  std::istringstream exactly(kHeader + std::string(kMaxLineBytes, ' ') + "\n");
  CHECK(ParseTrace(exactly, "t.jsonl").ok());  // a blank line of exactly the limit
  CHECK_THAT(TraceError(std::string(kMaxHeaderBytes + 1, '[')),
             Catch::StartsWith("t.jsonl:1: line longer than 67108864 bytes"));
  // Deep nesting would parse, then overflow the stack when copied or printed.
  CHECK_THAT(TraceError(std::string(100000, '[') + std::string(100000, ']')),
             Catch::StartsWith("t.jsonl:1: JSON nested deeper than 64 levels"));
}

TEST_CASE("limits: /dev/zero and directories are refused naming the file", "[traces][limits]") {
  auto zero = ReadTrace("/dev/zero");
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().message == "/dev/zero:1: NUL byte at column 1: binary data, not a text file");
  auto dir = ReadTrace(fs::temp_directory_path().string());
  REQUIRE_FALSE(dir.ok());
  CHECK_THAT(dir.error().message, Catch::Contains(":0: is a directory, not a trace file"));
  auto missing = ReadTrace("/no/such/trace.jsonl");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "/no/such/trace.jsonl:0: cannot open the trace file: No such file or directory");
  for (auto* import : {+[](const std::string& p) { return ImportCsvFile(p, {}); },
                       +[](const std::string& p) { return ImportStraceFile(p, {}); },
                       +[](const std::string& p) { return ImportGcsfsLogFile(p, {}); }}) {
    auto r = import("/dev/zero");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "/dev/zero:1: NUL byte at column 1: binary data, not a text file");
  }
}

TEST_CASE("limits: the count checks name the limit", "[traces][limits]") {
  CHECK(CheckRecordCount(kMaxRecords).ok());
  CHECK_THAT(CheckRecordCount(kMaxRecords + 1).error().message, Catch::Contains("more than 268435456 reads and hints"));
  CHECK(CheckObjectCount(kMaxObjects).ok());
  CHECK_FALSE(CheckObjectCount(kMaxObjects + 1).ok());
  CHECK(CheckHintRangeCount(kMaxHintRanges).ok());
  CHECK_FALSE(CheckHintRangeCount(kMaxHintRanges + 1).ok());
  CHECK(CheckTraceNanos("t", kMaxTraceNanos).ok());
  CHECK_FALSE(CheckTraceNanos("t", kMaxTraceNanos + 1).ok());
  Trace t;
  t.objects = {{"o0", "b", "x", 100}};
  t.records = {{0, 0, 0, 0, 100, -1}};
  CHECK(ValidateTraceLimits(t).ok());
  t.records[0].stream = static_cast<std::uint32_t>(kMaxStreams);
  CHECK_THAT(ValidateTraceLimits(t).error().message, Catch::StartsWith("read 1: stream 1048576"));
}

TEST_CASE("limits: generators refuse parameters beyond the limits", "[traces][limits][gen]") {
  auto error = [](const std::string& pattern, GeneratorParams p) {
    auto r = Generate(pattern, p);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  GeneratorParams many_streams;
  many_streams.streams = 4000000000u;  // once a 32 GB vector (bad_alloc)
  CHECK_THAT(error("multi-stream", many_streams), Catch::Contains("--streams: 4000000000 is above the limit of 2^20"));
  GeneratorParams huge;
  huge.object_size = (1ull << 50) + 1;
  CHECK_THAT(error("sequential", huge), Catch::Contains("--object-size: object size 1125899906842625 is above"));
  GeneratorParams count;
  count.count = kMaxRecords + 1;
  CHECK_THAT(error("random", count), Catch::Contains("--count: 268435457 is above the limit"));
  // 10^11 s between reads used to wrap to negative times; now the reader's time limit stops it.
  GeneratorParams think;
  think.think_ns = kMaxTraceNanos / 3;
  think.count = 10;
  CHECK_THAT(error("sequential", think), Catch::Contains("read 5 would be issued after 2^53 ns"));
  think.count = 4;  // t = 0, 1, 2, 3 x think: within the limit
  auto ok = Generate("sequential", think);
  REQUIRE(ok.ok());
  CHECK(ok->records.back().t_ns == 3 * (kMaxTraceNanos / 3));
  // Patterns without a read count stop at the record limit instead of exhausting memory.
  GeneratorParams tiny_reads;
  tiny_reads.object_size = 1ull << 40;
  tiny_reads.read_size = 1;
  CHECK_THAT(error("footer-then-columns", tiny_reads), Catch::Contains("reads, more than 268435456"));
  // An explicit stride of 0 means no gap (it used to mean "one read size").
  GeneratorParams contiguous;
  contiguous.object_size = 10 << 20;
  contiguous.read_size = 1 << 20;
  contiguous.count = 3;
  contiguous.stride = 0;
  auto strided = Generate("strided", contiguous);
  REQUIRE(strided.ok());
  CHECK(strided->records[1].offset == 1 << 20);
  CHECK(strided->records[2].offset == 2 << 20);
}

TEST_CASE("limits: importers refuse values beyond the limits at their line", "[traces][limits][import]") {
  // "0,18446744073709551615" imported, then replayed with --verify-bytes, crashed with SIGSEGV.
  std::istringstream csv("0,10\n0,18446744073709551615\n");
  auto huge = ImportCsv(csv, "r.csv", {});
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error().message ==
        "r.csv:2: offset+length=0+18446744073709551615 ends beyond 2^50 bytes (1 PiB), the limit on object sizes");
  std::istringstream stream("0,10,0,4000000000\n");
  auto big_stream = ImportCsv(stream, "r.csv", {});
  REQUIRE_FALSE(big_stream.ok());
  CHECK_THAT(big_stream.error().message, Catch::StartsWith("r.csv:1: stream 4000000000 is not below the limit"));
  CsvImportOptions sized;
  sized.size = (1ull << 50) + 1;
  std::istringstream one("0,10\n");
  auto bad_size = ImportCsv(one, "r.csv", sized);
  REQUIRE_FALSE(bad_size.ok());
  CHECK_THAT(bad_size.error().message, Catch::StartsWith("--size: object size 1125899906842625 is above"));
  // Times are rebased to the first read; a span above 2^53 ns is refused at the read that ends it.
  std::istringstream span("0,1,0\n0,1,1\n0,1,99999999\n");
  auto long_span = ImportCsv(span, "r.csv", {});
  REQUIRE_FALSE(long_span.ok());
  CHECK_THAT(long_span.error().message, Catch::StartsWith("r.csv:3: \"t\" of 99999999000000000 ns"));

  std::istringstream strace(
      "1 1.0 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3</x> <0.1>\n"
      "1 1.1 pread64(3</x>, \"\"..., 8, 9223372036854775000) = 8 <0.1>\n");
  auto far = ImportStrace(strace, "s.strace", {});
  REQUIRE_FALSE(far.ok());
  CHECK_THAT(far.error().message, Catch::StartsWith("s.strace:2: pread64 of 8 bytes at 9223372036854775000 of /x "
                                                    "ends beyond 2^50 bytes"));
  std::istringstream strace_long(std::string(kMaxLineBytes + 10, 'x'));
  auto long_line = ImportStrace(strace_long, "s.strace", {});
  REQUIRE_FALSE(long_line.ok());
  CHECK_THAT(long_line.error().message, Catch::StartsWith("s.strace:1: line longer than 1048576 bytes"));

  std::istringstream gcsfs(
      "2024-05-01 12:00:00,000 - gcsfs - DEBUG - _call -- GET: https://storage.googleapis.com/download/storage/v1/"
      "b/bk/o/obj?alt=media, (), {'Range': 'bytes=0-18446744073709551613'}\n");
  auto gets = ImportGcsfsLog(gcsfs, "g.log", {});
  REQUIRE_FALSE(gets.ok());
  CHECK_THAT(gets.error().message,
             Catch::StartsWith("g.log:1: the read of 18446744073709551614 bytes at 0 ends beyond"));
}

TEST_CASE("limits: text input helpers", "[traces][limits]") {
  CHECK(Excerpt(std::string("a\0b\xff", 4)) == "a\\x00b\\xff");
  CHECK(Excerpt(std::string(100, 'x'), 5) == "xxxxx...");
  CHECK_FALSE(JsonNestedDeeperThan(R"({"a":[[1]],"b":"[[[[[[[["})", 3));
  CHECK(JsonNestedDeeperThan(R"({"a":[[[1]]]})", 3));
  CHECK_FALSE(JsonNestedDeeperThan(R"("\"[[[[")", 1));
  std::istringstream in("a\r\nb\n\nc");
  LineReader reader(in, "x", 10);
  std::string line;
  std::vector<std::string> lines;
  while (*reader.Next(&line)) lines.push_back(line);
  CHECK(lines == std::vector<std::string>{"a", "b", "", "c"});
  CHECK(reader.line_number() == 4);
}

}  // namespace
}  // namespace pflab::traces
