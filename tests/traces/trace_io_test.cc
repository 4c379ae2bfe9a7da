#include "traces/trace_io.h"

#include <catch2/catch.hpp>
#include <random>
#include <sstream>

#include "traces/generators.h"

namespace pflab::traces {
namespace {

const char* kHeader = R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"a.bin","size":1000}]})";

Result<Trace> Parse(const std::string& text) {
  std::istringstream in(text);
  return ParseTrace(in, "t.jsonl");
}

std::string ErrorOf(const std::string& text) {
  auto r = Parse(text);
  REQUIRE(!r.ok());
  return r.error().message;
}

TEST_CASE("trace io: write then read gives the same trace", "[traces]") {
  Trace t;
  t.objects = {{"o0", "b", "x/y z.bin", 1 << 20}, {"o1", "b", "other", 4096}};
  t.records = {{0, 0, 0, 0, 100, -1}, {5, 1, 1, 4000, 96, 1234}, {5, 0, 0, 1000, 1 << 19, -1}};
  t.source = {{"generator", "hand"}};
  std::stringstream ss;
  WriteTrace(ss, t);
  auto back = ParseTrace(ss, "mem");
  REQUIRE(back.ok());
  REQUIRE(back->objects.size() == 2);
  CHECK(back->objects[0].name == "x/y z.bin");
  CHECK(back->objects[1].size == 4096);
  REQUIRE(back->records.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(back->records[i].t_ns == t.records[i].t_ns);
    CHECK(back->records[i].stream == t.records[i].stream);
    CHECK(back->records[i].object == t.records[i].object);
    CHECK(back->records[i].offset == t.records[i].offset);
    CHECK(back->records[i].length == t.records[i].length);
    CHECK(back->records[i].duration_ns == t.records[i].duration_ns);
  }
  CHECK(back->source["generator"] == "hand");
}

TEST_CASE("trace io: optional fields- comments and blank lines", "[traces]") {
  auto t = Parse(std::string(kHeader) + "\n\n# a comment\n{\"t\":3,\"offset\":10,\"length\":5,\"extra\":true}\n");
  REQUIRE(t.ok());
  REQUIRE(t->records.size() == 1);
  CHECK(t->records[0].stream == 0);
  CHECK(t->records[0].object == 0);
  CHECK(t->records[0].duration_ns == -1);
}

TEST_CASE("trace io: every kind of bad input names file and line", "[traces]") {
  const std::string h = std::string(kHeader) + "\n";
  CHECK(ErrorOf("") == "t.jsonl:1: empty trace (no header line)");
  CHECK_THAT(ErrorOf("{oops\n"), Catch::StartsWith("t.jsonl:1: malformed JSON"));
  CHECK_THAT(ErrorOf(R"({"t":0,"offset":0,"length":1})"),
             Catch::StartsWith("t.jsonl:1: the first line must be the header"));
  CHECK_THAT(ErrorOf(R"({"format":"other","version":1,"objects":[]})"), Catch::StartsWith("t.jsonl:1: unknown format"));
  CHECK_THAT(ErrorOf(R"({"format":"pflab-trace","version":2,"objects":[{"id":"o","size":1}]})"),
             Catch::StartsWith("t.jsonl:1: unsupported trace version 2"));
  CHECK_THAT(ErrorOf(R"({"format":"pflab-trace","version":1,"objects":[{"id":"o"}]})"),
             Catch::Contains("missing field \"size\""));
  CHECK_THAT(ErrorOf(R"({"format":"pflab-trace","version":1,"objects":[{"id":"o","size":1},{"id":"o","size":2}]})"),
             Catch::Contains("duplicate object id"));
  CHECK_THAT(ErrorOf(h + "{\"t\":0,\"offset\":0}\n"), Catch::StartsWith("t.jsonl:2: missing field \"length\""));
  CHECK_THAT(ErrorOf(h + "{\"t\":0,\"offset\":-5,\"length\":1}\n"),
             Catch::StartsWith("t.jsonl:2: \"offset\" is negative"));
  CHECK_THAT(ErrorOf(h + "{\"t\":0,\"offset\":\"1\",\"length\":1}\n"),
             Catch::StartsWith("t.jsonl:2: \"offset\" must be a non-negative integer"));
  CHECK_THAT(ErrorOf(h + "{\"t\":0,\"offset\":999,\"length\":2}\n"), Catch::StartsWith("t.jsonl:2: read beyond EOF"));
  CHECK_THAT(ErrorOf(h + "{\"t\":0,\"object\":\"zz\",\"offset\":0,\"length\":2}\n"),
             Catch::StartsWith("t.jsonl:2: unknown object id \"zz\""));
  CHECK_THAT(ErrorOf(h + "{\"t\":9,\"offset\":0,\"length\":1}\n# c\n{\"t\":3,\"offset\":0,\"length\":1}\n"),
             Catch::StartsWith("t.jsonl:4: \"t\" goes backwards"));
  CHECK_THAT(ErrorOf(h + "[1,2]\n"), Catch::StartsWith("t.jsonl:2: a read record must be a JSON object"));
  CHECK_THAT(ErrorOf(h + h), Catch::StartsWith("t.jsonl:2: a second header"));
}

TEST_CASE("trace io: random garbage never crashes and always names a line", "[traces]") {
  std::mt19937_64 rng(1);
  const std::string alphabet = "{}[]\":,0123456789-abcdeftlnru \\";
  for (int i = 0; i < 2000; ++i) {
    std::string line;
    const int n = static_cast<int>(rng() % 60);
    for (int j = 0; j < n; ++j) line += alphabet[rng() % alphabet.size()];
    auto r = Parse(std::string(kHeader) + "\n" + line + "\n");
    if (!r.ok()) CHECK_THAT(r.error().message, Catch::StartsWith("t.jsonl:"));
  }
}

// Found reviewing what fuzz/trace_io_fuzz.cc checks (a read-back trace must write and read back the
// same): a "dur" past 2^63-1 ns wrapped to a negative duration, which the writer leaves out, so the trace
// came back with no duration; a "t" past it wrapped too, and was reported as going backwards.
TEST_CASE("trace io: a t or dur past the largest signed 64-bit nanosecond count is an error", "[traces]") {
  const std::string h = std::string(kHeader) + "\n";
  CHECK(ErrorOf(h + "{\"t\":0,\"offset\":0,\"length\":1,\"dur\":9223372036854775808}\n") ==
        "t.jsonl:2: \"dur\" of 9223372036854775808 ns is above the limit of 2^53 ns (about 104 days)");
  CHECK(ErrorOf(h + "{\"t\":18446744073709551615,\"offset\":0,\"length\":1}\n") ==
        "t.jsonl:2: \"t\" of 18446744073709551615 ns is above the limit of 2^53 ns (about 104 days)");
  // The largest times the limit allows read, write and read back unchanged.
  const std::int64_t max = std::int64_t{1} << 53;
  auto largest =
      Parse(h + "{\"t\":" + std::to_string(max) + ",\"offset\":0,\"length\":1,\"dur\":" + std::to_string(max) + "}\n");
  REQUIRE(largest);
  CHECK(largest->records[0].t_ns == max);
  CHECK(largest->records[0].duration_ns == max);
  std::ostringstream out;
  WriteTrace(out, *largest);
  std::istringstream in(out.str());
  auto back = ParseTrace(in, "back.jsonl");
  REQUIRE(back);
  CHECK(back->records[0].duration_ns == max);
}

TEST_CASE("trace io: missing files are reported with their path", "[traces]") {
  auto r = ReadTrace("/nonexistent/x.jsonl");
  REQUIRE(!r.ok());
  CHECK_THAT(r.error().message, Catch::StartsWith("/nonexistent/x.jsonl:"));
}

}  // namespace
}  // namespace pflab::traces
