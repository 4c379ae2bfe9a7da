// The binary trace format (traces/binary_trace.h), the asked length of reads crossing EOF in both
// forms, the JSONL reader's fast path, and `pflab convert` / `pflab bench traces`.
#include "traces/binary_trace.h"

#include <zstd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "replay/simulation.h"
#include "tests/support/cli_runner.h"
#include "tests/support/files.h"
#include "tests/support/run_config.h"
#include "traces/random_mix.h"
#include "traces/trace_io.h"

namespace pflab::traces {
namespace {

// Every field of both traces, reads and hints (the name comes from the file, not the content).
void RequireSame(const Trace& a, const Trace& b) {
  REQUIRE(a.objects.size() == b.objects.size());
  for (std::size_t i = 0; i < a.objects.size(); ++i) {
    CHECK(a.objects[i].id == b.objects[i].id);
    CHECK(a.objects[i].bucket == b.objects[i].bucket);
    CHECK(a.objects[i].name == b.objects[i].name);
    CHECK(a.objects[i].size == b.objects[i].size);
  }
  CHECK(a.source == b.source);
  REQUIRE(a.records.size() == b.records.size());
  for (std::size_t i = 0; i < a.records.size(); ++i) {
    const TraceRecord& x = a.records[i];
    const TraceRecord& y = b.records[i];
    INFO("read " << i);
    REQUIRE(x.t_ns == y.t_ns);
    REQUIRE(x.stream == y.stream);
    REQUIRE(x.object == y.object);
    REQUIRE(x.offset == y.offset);
    REQUIRE(x.length == y.length);
    REQUIRE(x.duration_ns == y.duration_ns);
    REQUIRE(x.past_eof == y.past_eof);
  }
  REQUIRE(a.hints.size() == b.hints.size());
  for (std::size_t i = 0; i < a.hints.size(); ++i) {
    CHECK(a.hints[i].t_ns == b.hints[i].t_ns);
    CHECK(a.hints[i].stream == b.hints[i].stream);
    CHECK(a.hints[i].object == b.hints[i].object);
    CHECK(a.hints[i].before == b.hints[i].before);
    CHECK(a.hints[i].ranges == b.hints[i].ranges);
  }
}

std::string Binary(const Trace& trace) {
  std::ostringstream out;
  REQUIRE(WriteBinaryTrace(out, trace).ok());
  return out.str();
}

Result<Trace> Parse(const std::string& bytes, const std::string& name = "t.bin") {
  std::istringstream in(bytes);
  return ParseTrace(in, name);
}

// A random mix whose reads that end at their object's end asked for more (seeded), and some durations.
Trace MixWithEofReads(std::uint64_t seed) {
  RandomMixOptions options;
  options.seed = seed;
  auto trace = RandomMix(options);
  REQUIRE(trace.ok());
  for (std::size_t i = 0; i < trace->records.size(); ++i) {
    TraceRecord& r = trace->records[i];
    if (r.offset + r.length == trace->objects[r.object].size) r.past_eof = 1 + (i * 7919 + seed) % 100000;
    if (i % 3 == 0) r.duration_ns = static_cast<Nanos>(i * 1000);
  }
  return std::move(*trace);
}

TEST_CASE("binary traces: random mixes round-trip through binary and JSONL unchanged", "[traces][binary]") {
  std::size_t hints = 0, past_eof = 0, reads = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    const Trace trace = MixWithEofReads(seed);
    hints += trace.hints.size();
    reads += trace.records.size();
    for (const auto& r : trace.records) past_eof += r.past_eof > 0;
    auto back = Parse(Binary(trace));
    REQUIRE(back.ok());
    RequireSame(trace, *back);
    // And through JSONL, whose reader takes read lines on its fast path.
    std::ostringstream jsonl;
    WriteTrace(jsonl, trace);
    auto from_text = Parse(jsonl.str(), "t.jsonl");
    REQUIRE(from_text.ok());
    RequireSame(trace, *from_text);
  }
  // Not vacuous: hints, reads cut at EOF and many reads were in the traces.
  CHECK(hints > 10);
  CHECK(past_eof > 10);
  CHECK(reads > 2000);
}

TEST_CASE("binary traces: many blocks, and a writer that cannot seek back", "[traces][binary]") {
  Trace trace;
  trace.objects.push_back({"a", "b", "a.bin", 1ull << 40});
  trace.objects.push_back({"z", "pflab", "z", 1000});
  const std::size_t n = 3 * kBinaryBlockReads + 17;
  for (std::size_t i = 0; i < n; ++i) {
    TraceRecord r;
    r.t_ns = static_cast<Nanos>(i / 3) * 100;
    r.stream = static_cast<std::uint32_t>(i % 5);
    r.object = i % 101 == 0 ? 1 : 0;
    r.offset = r.object == 1 ? 900 : (i * 4096 * 31) % (1ull << 39);
    r.length = r.object == 1 ? 100 : 4096;
    r.past_eof = r.object == 1 ? i : 0;
    trace.records.push_back(r);
  }
  const std::string bytes = Binary(trace);
  auto back = Parse(bytes);
  REQUIRE(back.ok());
  RequireSame(trace, *back);
  CHECK(bytes.size() < n * 4);  // compressed: a few bytes per read

  // Counts left unknown (as a pipe leaves them): the reader goes by the blocks.
  std::string unknown = bytes;
  for (int i = 16; i < 32; ++i) unknown[static_cast<std::size_t>(i)] = '\xff';
  auto from_pipe = Parse(unknown);
  REQUIRE(from_pipe.ok());
  RequireSame(trace, *from_pipe);
}

Result<Trace> ParseOn(const std::string& bytes, unsigned threads) {
  std::istringstream in(bytes);
  return ParseBinaryTrace(in, "t.bin", {.threads = threads});
}

// Whether two traces hold the same reads and hints, in one assertion (RequireSame's per-field
// assertions cost seconds under the sanitizers at 200,000 reads).
bool SameReadsAndHints(const Trace& a, const Trace& b) {
  const auto same = [](const TraceRecord& x, const TraceRecord& y) {
    return x.t_ns == y.t_ns && x.stream == y.stream && x.object == y.object && x.offset == y.offset &&
           x.length == y.length && x.duration_ns == y.duration_ns && x.past_eof == y.past_eof;
  };
  const auto same_hint = [](const TraceHint& x, const TraceHint& y) {
    return x.t_ns == y.t_ns && x.stream == y.stream && x.object == y.object && x.before == y.before &&
           x.ranges == y.ranges;
  };
  return a.objects.size() == b.objects.size() && a.source == b.source &&
         std::equal(a.records.begin(), a.records.end(), b.records.begin(), b.records.end(), same) &&
         std::equal(a.hints.begin(), a.hints.end(), b.hints.begin(), b.hints.end(), same_hint);
}

// The same outcome, down to the error message, or the same trace.
void RequireSameOutcome(const Result<Trace>& a, const Result<Trace>& b) {
  REQUIRE(a.ok() == b.ok());
  if (!a.ok()) {
    REQUIRE(a.error().message == b.error().message);
    return;
  }
  REQUIRE(SameReadsAndHints(*a, *b));
}

TEST_CASE("binary traces: decoding on several threads gives the loop's trace and errors", "[traces][binary][threads]") {
  // Over three blocks: one object read in order (offsets growing, so a smaller size in the header puts
  // the first read beyond EOF in a later block, a check that needs the reads before it), reads crossing
  // EOF of a small one, and hints.
  Trace trace;
  trace.objects.push_back({"a", "b", "a.bin", 1ull << 40});
  trace.objects.push_back({"z", "pflab", "z", 1000});
  const std::size_t n = 3 * kBinaryBlockReads + 4321;
  for (std::size_t i = 0; i < n; ++i) {
    TraceRecord r;
    r.t_ns = static_cast<Nanos>(i / 3) * 100;
    r.stream = static_cast<std::uint32_t>(i % 5);
    r.object = i % 101 == 0 ? 1 : 0;
    r.offset = r.object == 1 ? 900 : i * 4096 * 31;
    r.length = r.object == 1 ? 100 : 4096;
    r.past_eof = r.object == 1 ? i % 7 : 0;
    r.duration_ns = i % 3 == 0 ? static_cast<Nanos>(i) : -1;
    trace.records.push_back(r);
  }
  for (std::size_t before : {std::size_t{0}, std::size_t{70000}, std::size_t{200000}}) {
    TraceHint hint;
    hint.t_ns = trace.records[before].t_ns;
    hint.stream = trace.records[before].stream;
    hint.before = before;
    hint.ranges = {{0, 4096}, {1 << 20, 2 << 20}};
    trace.hints.push_back(hint);
  }
  const std::string bytes = Binary(trace);
  for (unsigned threads : {1u, 2u, 4u}) {
    INFO(threads << " threads");
    auto back = ParseOn(bytes, threads);
    REQUIRE(back.ok());
    REQUIRE(back->records.size() == n);
    REQUIRE(SameReadsAndHints(trace, *back));
  }
  std::string unknown = bytes;
  for (int i = 16; i < 32; ++i) unknown[static_cast<std::size_t>(i)] = '\xff';
  RequireSameOutcome(ParseOn(unknown, 1), ParseOn(unknown, 3));

  // The first read past the shrunk size is read 140,001, in the third block.
  const std::string size_text = std::to_string(1ull << 40);
  const auto at = bytes.find("\"size\":" + size_text);
  REQUIRE(at != std::string::npos);
  std::string shrunk = bytes;
  std::string smaller = std::to_string(140000ull * 4096 * 31);
  smaller.resize(size_text.size(), ' ');  // the header keeps its length
  shrunk.replace(at + 7, size_text.size(), smaller);
  auto serial = ParseOn(shrunk, 1);
  REQUIRE_FALSE(serial.ok());
  CHECK_THAT(serial.error().message, Catch::Contains("read 140001: read beyond EOF"));
  RequireSameOutcome(serial, ParseOn(shrunk, 3));

  // Damage anywhere: a flipped byte (in a zstd frame it may still decode, to other values), a cut, a
  // changed read count; the outcome on threads is the loop's.
  std::mt19937_64 rng(17);
  for (int k = 0; k < 60; ++k) {
    std::string bad = bytes;
    const std::size_t pos = std::uniform_int_distribution<std::size_t>(0, bad.size() - 1)(rng);
    switch (k % 3) {
      case 0: bad[pos] = static_cast<char>(bad[pos] ^ (1 << (k % 8))); break;
      case 1: bad.resize(pos); break;
      default: bad[16 + k % 3] = static_cast<char>(bad[16 + k % 3] + 1 + k % 5); break;
    }
    INFO("damage " << k << " at byte " << pos);
    RequireSameOutcome(ParseOn(bad, 1), ParseOn(bad, 3));
  }
}

TEST_CASE("binary traces: every error names the file and the byte", "[traces][binary]") {
  Trace trace = MixWithEofReads(7);
  const std::string good = Binary(trace);
  REQUIRE(Parse(good).ok());

  // Every truncation is an error with a position, never a crash or a shorter trace. Cut inside the
  // magic, the file is no binary trace, and the JSONL reader says what it found on line 1.
  for (std::size_t cut = 1; cut < good.size(); cut += 1 + cut / 16) {
    auto r = Parse(good.substr(0, cut));
    INFO("cut at " << cut);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::StartsWith(cut < 8 ? "t.bin:1: malformed JSON: \\x89" : "t.bin: byte "));
  }
  auto error = [&](std::string bytes) {
    auto r = Parse(bytes);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  std::string bad = good;
  bad[3] = 'X';
  // Not the magic: the JSONL reader takes it (as it takes a PNG image) and finds no text there.
  CHECK_THAT(error(bad), Catch::StartsWith("t.bin:1: "));
  std::istringstream direct(bad);
  auto not_binary = ParseBinaryTrace(direct, "t.bin");
  REQUIRE_FALSE(not_binary.ok());
  CHECK(not_binary.error().message ==
        "t.bin: byte 0: not a pflab binary trace (the magic bytes are not \\x89PFLTRC\\n)");
  bad = good;
  bad[8] = 2;
  CHECK(error(bad) == "t.bin: byte 8: unsupported binary trace version 2 (this pflab reads version 1)");
  bad = good;
  bad[16] ^= 1;  // the read count
  CHECK_THAT(error(bad), Catch::Contains("the header says") || Catch::Contains("more reads than the header"));
  // A corrupt zstd frame: the byte after the first block header.
  const std::size_t header_bytes =
      36 + static_cast<unsigned char>(good[32]) + 256u * static_cast<unsigned char>(good[33]);
  bad = good;
  bad[header_bytes + 13 + 5] ^= 0x55;
  CHECK_THAT(error(bad), Catch::StartsWith("t.bin: byte " + std::to_string(header_bytes) + ": "));
  bad = good;
  bad[header_bytes] = 'Q';
  CHECK(error(bad) ==
        "t.bin: byte " + std::to_string(header_bytes) + ": unknown block kind 81 (expected 'R', 'H' or 'E')");
  // Trailing bytes after the end block are not read; a missing end block is an error.
  CHECK_THAT(error(good.substr(0, good.size() - 13)), Catch::Contains("truncated block header"));
}

// Found by fuzz_binary_trace: a block header claiming 4 GB (compressed or not) made the reader allocate
// that much before reading a byte. Now memory follows the bytes that are really there.
TEST_CASE("binary traces: block sizes that lie cost no memory", "[traces][binary]") {
  Trace trace;
  trace.objects.push_back({"o0", "pflab", "o0", 1000});
  trace.records.push_back({0, 0, 0, 0, 100, -1, 0});
  const std::string good = Binary(trace);
  const std::size_t header_bytes = 36 + static_cast<unsigned char>(good[32]);
  const std::string head = good.substr(0, header_bytes);
  auto block = [](char kind, std::uint32_t count, std::uint32_t raw, std::uint32_t packed) {
    std::string b(13, '\0');
    b[0] = kind;
    for (int i = 0; i < 4; ++i) {
      b[1 + i] = static_cast<char>(count >> (8 * i));
      b[5 + i] = static_cast<char>(raw >> (8 * i));
      b[9 + i] = static_cast<char>(packed >> (8 * i));
    }
    return b;
  };
  std::string frame(ZSTD_compressBound(10), '\0');
  const std::string ten(10, '\1');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), ten.data(), ten.size(), 1));
  const std::string at = "t.bin: byte " + std::to_string(header_bytes) + ": ";
  auto huge_raw = Parse(head + block('H', 1, 4000000000u, static_cast<std::uint32_t>(frame.size())) + frame);
  REQUIRE_FALSE(huge_raw.ok());
  CHECK(huge_raw.error().message == at + "the block's zstd frame holds 10 bytes, its header says 4000000000");
  auto huge_packed = Parse(head + block('H', 1, 4000000000u, 4000000000u) + frame);
  REQUIRE_FALSE(huge_packed.ok());
  CHECK_THAT(huge_packed.error().message,
             Catch::EndsWith(": truncated block: " + std::to_string(frame.size()) + " of 4000000000 bytes"));
}

// The reader takes most of a block's varints without a bound check per byte (while every column has
// room for 10 bytes per read left) and the rest with one: long and malformed varints behave the same
// in both parts of a block.
TEST_CASE("binary traces: long and malformed varints anywhere in a block", "[traces][binary]") {
  constexpr std::uint32_t kReads = 200;
  Trace trace;
  trace.objects.push_back({"o0", "pflab", "o0", 1u << 20});
  for (std::uint32_t i = 0; i < kReads; ++i) trace.records.push_back({i, 0, 0, i * 10u, 10, -1, 0});
  const std::string good = Binary(trace);
  const std::size_t header_bytes =
      36 + static_cast<unsigned char>(good[32]) + 256u * static_cast<unsigned char>(good[33]);
  // A reads block by hand: the stream column's value at `odd` (0, like all the others) is written as
  // `spelling`; the other columns as the writer writes them.
  auto with_stream = [&](std::size_t odd, const std::string& spelling) {
    std::string columns[7];
    for (std::uint32_t i = 0; i < kReads; ++i) {
      columns[0] += static_cast<char>(i == 0 ? 0 : 1);  // t - previous t
      columns[1] += i == odd ? spelling : std::string(1, '\0');
      columns[2] += '\0';    // object
      columns[3] += '\0';    // zigzag(offset - previous end)
      columns[4] += '\x0a';  // length
      columns[5] += '\0';    // dur + 1: unknown
      columns[6] += '\0';    // past EOF
    }
    std::string raw;
    for (const auto& c : columns) {
      for (int b = 0; b < 4; ++b) raw += static_cast<char>(c.size() >> (8 * b));
    }
    for (const auto& c : columns) raw += c;
    std::string frame(ZSTD_compressBound(raw.size()), '\0');
    frame.resize(ZSTD_compress(frame.data(), frame.size(), raw.data(), raw.size(), 1));
    std::string head(13, '\0');
    head[0] = 'R';
    for (int b = 0; b < 4; ++b) {
      head[1 + b] = static_cast<char>(kReads >> (8 * b));
      head[5 + b] = static_cast<char>(raw.size() >> (8 * b));
      head[9 + b] = static_cast<char>(frame.size() >> (8 * b));
    }
    return good.substr(0, header_bytes) + head + frame + std::string(1, 'E') + std::string(12, '\0');
  };
  const std::string ten_byte_zero = std::string(9, '\x80') + std::string(1, '\0');
  const std::string eleven_bytes = std::string(10, '\x80') + std::string(1, '\0');
  const std::string tenth_above_one = std::string(9, '\xff') + std::string(1, '\x02');
  const std::string at = "t.bin: byte " + std::to_string(header_bytes) + ": ";
  for (std::size_t odd : {std::size_t{0}, std::size_t{100}, std::size_t{kReads - 1}}) {
    INFO("the odd varint is read " << odd + 1);
    auto same = Parse(with_stream(odd, ten_byte_zero));
    REQUIRE(same.ok());
    RequireSame(*same, trace);
    for (const std::string& bad : {eleven_bytes, tenth_above_one}) {
      auto r = Parse(with_stream(odd, bad));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().message == at + "malformed varint or a column shorter than 200");
    }
    // A varint cut by its column's end (the stream column one byte short).
    auto cut = Parse(with_stream(odd, std::string(1, '\x80')));
    REQUIRE_FALSE(cut.ok());
    CHECK(cut.error().message == at + "malformed varint or a column shorter than 200");
    auto short_column = Parse(with_stream(odd, ""));  // one value fewer
    REQUIRE_FALSE(short_column.ok());
    CHECK(short_column.error().message == at + "malformed varint or a column shorter than 200");
  }
}

TEST_CASE("binary traces: values are checked as the JSONL reader checks them", "[traces][binary]") {
  Trace trace;
  trace.objects.push_back({"o0", "pflab", "o0", 1000});
  trace.records.push_back({0, 0, 0, 0, 100, -1, 0});
  trace.records.push_back({5, 1, 0, 900, 100, -1, 50});
  std::string bytes = Binary(trace);
  // The header is JSON in the file: shrink the object so that the second read lies beyond its end.
  const auto at = bytes.find("\"size\":1000");
  REQUIRE(at != std::string::npos);
  bytes.replace(at, 11, "\"size\":950 ");
  auto r = Parse(bytes);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Matches("t\\.bin: byte [0-9]+: read 2: read beyond EOF: "
                                               "offset\\+length=900\\+100 > size 950 of object \"o0\""));
  // The writer refuses what the reader would.
  std::ostringstream out;
  BinaryTraceWriter writer(out, trace);
  CHECK(writer.Add({10, 0, 0, 0, 10, -1, 0}).ok());
  auto backwards = writer.Add({9, 0, 0, 0, 10, -1, 0});
  REQUIRE_FALSE(backwards.ok());
  CHECK(backwards.error().message == "read 2: \"t\" goes backwards");
  std::ostringstream out2;
  BinaryTraceWriter writer2(out2, trace);
  auto not_at_eof = writer2.Add({0, 0, 0, 0, 10, -1, 5});
  REQUIRE_FALSE(not_at_eof.ok());
  CHECK_THAT(not_at_eof.error().message, Catch::Contains("not at EOF"));
}

TEST_CASE("traces: the asked length of reads crossing EOF (JSONL)", "[traces][binary][eof]") {
  const std::string header = R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","size":1000}]})"
                             "\n";
  auto parse = [&](const std::string& line) { return Parse(header + line + "\n", "t.jsonl"); };
  auto ok = parse(R"({"t":0,"offset":900,"length":100,"asked":4096})");
  REQUIRE(ok.ok());
  CHECK(ok->records[0].length == 100);
  CHECK(ok->records[0].asked() == 4096);
  CHECK(ok->records[0].past_eof == 3996);
  auto same = parse(R"({"t":0,"offset":0,"length":100,"asked":100})");
  REQUIRE(same.ok());
  CHECK(same->records[0].past_eof == 0);
  // Without "asked" the read asked for what it returned, as before.
  auto plain = parse(R"({"t":0,"offset":900,"length":100})");
  REQUIRE(plain.ok());
  CHECK(plain->records[0].asked() == 100);
  auto less = parse(R"({"t":0,"offset":900,"length":100,"asked":99})");
  REQUIRE_FALSE(less.ok());
  CHECK(less.error().message ==
        "t.jsonl:2: \"asked\" 99 is less than \"length\" 100: a read returns at most what was asked");
  auto inside = parse(R"({"t":0,"offset":0,"length":100,"asked":200})");
  REQUIRE_FALSE(inside.ok());
  CHECK_THAT(inside.error().message,
             Catch::StartsWith("t.jsonl:2: \"asked\" 200 is more than \"length\" 100 but the read ends at 100, not at "
                               "EOF (1000)"));
  auto negative = parse(R"({"t":0,"offset":900,"length":100,"asked":-1})");
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.error().message == "t.jsonl:2: \"asked\" is negative: -1");
  // Written back only where it says something.
  std::ostringstream out;
  WriteTrace(out, *ok);
  CHECK_THAT(out.str(), Catch::Contains(R"("offset":900,"length":100,"asked":4096)"));
  std::ostringstream out_plain;
  WriteTrace(out_plain, *plain);
  CHECK_THAT(out_plain.str(), !Catch::Contains("asked"));
}

TEST_CASE("traces: the JSONL fast path gives what the full reader gives", "[traces][binary]") {
  const std::string header =
      R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","size":1000},{"id":"o1","size":50}]})"
      "\n";
  // Lines the fast path leaves to the full reader (unknown fields, repeated fields, escapes, spaces)
  // and lines it takes: the same reads either way.
  const std::string lines = R"({"t":1,"object":"o0","offset":0,"length":10})"
                            "\n"
                            R"( { "t" : 2 , "object" : "o\u0030", "offset" : 10 , "length" : 10 } )"
                            "\n"
                            R"({"t":3,"object":"o1","offset":40,"length":10,"asked":20,"dur":7,"stream":3})"
                            "\n"
                            R"({"t":4,"object":"o0","offset":0,"length":10,"extra":[1,{"x":2}]})"
                            "\n"
                            R"({"t":5,"object":"o0","offset":0,"length":10,"length":20})"
                            "\n";
  auto trace = Parse(header + lines, "t.jsonl");
  REQUIRE(trace.ok());
  REQUIRE(trace->records.size() == 5);
  CHECK(trace->records[1].object == 0);
  CHECK(trace->records[1].offset == 10);
  CHECK(trace->records[2].object == 1);
  CHECK(trace->records[2].past_eof == 10);
  CHECK(trace->records[2].duration_ns == 7);
  CHECK(trace->records[2].stream == 3);
  CHECK(trace->records[3].length == 10);
  CHECK(trace->records[4].length ==
        nlohmann::json::parse(R"({"length":10,"length":20})")["length"].get<std::uint64_t>());
  // Errors come from the full reader, with their line.
  auto bad = Parse(header + R"({"t":1,"object":"o0","offset":0,"length":1.5})"
                            "\n",
                   "t.jsonl");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "t.jsonl:2: \"length\" must be a non-negative integer, got 1.5");
  auto backwards = Parse(header + lines +
                             R"({"t":4,"object":"o0","offset":0,"length":1})"
                             "\n",
                         "t.jsonl");
  REQUIRE_FALSE(backwards.ok());
  CHECK_THAT(backwards.error().message, Catch::StartsWith("t.jsonl:7: \"t\" goes backwards"));
}

TEST_CASE("binary traces: read by content, whatever the file is called", "[traces][binary]") {
  const auto dir = testing::FreshTempDir("pflab_binary_names");
  const Trace trace = MixWithEofReads(3);
  REQUIRE(WriteBinaryTrace((dir / "looks.jsonl").string(), trace).ok());
  REQUIRE(WriteTrace((dir / "looks.pftrace").string(), trace).ok());
  auto a = ReadTrace((dir / "looks.jsonl").string());
  auto b = ReadTrace((dir / "looks.pftrace").string());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  RequireSame(*a, *b);
  CHECK(a->name == "looks");
  std::filesystem::remove_all(dir);
}

TEST_CASE("traces: replay delivers the bytes returned, not the bytes asked past EOF", "[traces][binary][eof]") {
  const Trace trace = MixWithEofReads(11);
  std::uint64_t expected = 0;
  for (const auto& r : trace.records) expected += r.length;
  for (const char* policy : {"none", "fsspec-bytes", "fsspec-readahead", "gcsfs-adaptive"}) {
    INFO(policy);
    auto result = replay::RunSimulation(testing::RunConfig(trace, policy));
    REQUIRE(result.ok());
    CHECK_FALSE(result->failed());
    CHECK(result->metrics.bytes_read == expected);
  }
}

TEST_CASE("pflab gen and import write the binary form with --binary", "[traces][binary][cli]") {
  const auto dir = testing::FreshTempDir("pflab_gen_binary");
  const std::string gen = "gen visits-home --count 40 --object-size 8MiB --read-size 64KiB -o ";
  REQUIRE(testing::RunPflab(gen + (dir / "a.jsonl").string(), dir).exit_code == 0);
  REQUIRE(testing::RunPflab(gen + (dir / "a.pftrace").string() + " --binary", dir).exit_code == 0);
  CHECK(LooksLikeBinaryTrace(testing::Slurp(dir / "a.pftrace")));
  CHECK_FALSE(LooksLikeBinaryTrace(testing::Slurp(dir / "a.jsonl")));
  // The same trace in either form: converted back, byte for byte what gen writes as JSONL.
  REQUIRE(testing::RunPflab("convert " + (dir / "a.pftrace").string() + " -o " + (dir / "b.jsonl").string(), dir)
              .exit_code == 0);
  CHECK(testing::Slurp(dir / "b.jsonl") == testing::Slurp(dir / "a.jsonl"));

  std::ofstream(dir / "in.csv") << "offset,length,time\n0,10,1\n10,10,3.5\n";
  const std::string import = "import csv " + (dir / "in.csv").string() + " --size 1KiB -o ";
  REQUIRE(testing::RunPflab(import + (dir / "c.jsonl").string(), dir).exit_code == 0);
  REQUIRE(testing::RunPflab(import + (dir / "c.pftrace").string() + " --binary", dir).exit_code == 0);
  CHECK(LooksLikeBinaryTrace(testing::Slurp(dir / "c.pftrace")));
  auto binary = ReadTrace((dir / "c.pftrace").string());
  auto jsonl = ReadTrace((dir / "c.jsonl").string());
  REQUIRE(binary.ok());
  REQUIRE(jsonl.ok());
  REQUIRE(binary->records.size() == 2);
  CHECK(binary->records.size() == jsonl->records.size());
  CHECK(binary->records[1].offset == jsonl->records[1].offset);
  CHECK(binary->records[1].t_ns == jsonl->records[1].t_ns);
}

TEST_CASE("pflab convert and compare take either form", "[traces][binary][cli]") {
  const auto dir = testing::FreshTempDir("pflab_convert");
  const Trace trace = MixWithEofReads(5);
  const auto jsonl = dir / "t.jsonl";
  REQUIRE(WriteTrace(jsonl.string(), trace).ok());
  auto to_binary = testing::RunPflab("convert " + jsonl.string() + " -o " + (dir / "t.bin").string(), dir);
  REQUIRE(to_binary.exit_code == 0);
  CHECK_THAT(to_binary.err, Catch::Contains("(jsonl, ") && Catch::Contains("(binary, "));
  auto back = testing::RunPflab("convert " + (dir / "t.bin").string() + " -o " + (dir / "u.jsonl").string(), dir);
  REQUIRE(back.exit_code == 0);
  CHECK(testing::Slurp(dir / "u.jsonl") == testing::Slurp(jsonl));
  // The same results from either file.
  const std::string args = " --policies fsspec-bytes --json ";
  REQUIRE(testing::RunPflab("compare -q " + jsonl.string() + args + (dir / "a.json").string(), dir).exit_code == 0);
  REQUIRE(
      testing::RunPflab("compare -q " + (dir / "t.bin").string() + args + (dir / "b.json").string(), dir).exit_code ==
      0);
  auto results = [&](const char* file) {
    auto j = nlohmann::json::parse(testing::Slurp(dir / file));
    return j["runs"].dump();
  };
  CHECK(results("a.json") == results("b.json"));
  // sweep reads it too (through the hashing reader that keys its results by content).
  auto sweep = testing::RunPflab(
      "sweep --traces " + (dir / "t.bin").string() + " --policy none -o " + (dir / "s.jsonl").string(), dir);
  CHECK(sweep.exit_code == 0);
  CHECK_THAT(testing::Slurp(dir / "s.jsonl"), Catch::Contains("\"bytes_read\":" + std::to_string([&] {
                                                                std::uint64_t n = 0;
                                                                for (const auto& r : trace.records) n += r.length;
                                                                return n;
                                                              }())));
  // A broken binary trace fails with its position.
  std::string bytes = testing::Slurp(dir / "t.bin");
  std::ofstream(dir / "cut.bin", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto cut = testing::RunPflab("compare " + (dir / "cut.bin").string() + " --policies none", dir);
  CHECK(cut.exit_code == 1);
  CHECK_THAT(cut.err, Catch::Contains((dir / "cut.bin").string() + ": byte "));
  std::filesystem::remove_all(dir);
}

TEST_CASE("pflab bench traces: a small slice runs every stage", "[traces][binary][cli]") {
  const auto dir = testing::FreshTempDir("pflab_bench_traces");
  auto run = testing::RunPflab("bench traces --reads 300000 --jsonl-reads 20000 --dir " + dir.string(), dir);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  for (const char* stage : {"generate", "load", "jsonl", "replay", "peak RSS", "reload", "resident grew by"})
    CHECK_THAT(run.out, Catch::Contains(stage));
  CHECK_THAT(run.out, Catch::Contains("    300000 reads"));
  // The trace is removed afterwards unless --keep.
  std::size_t traces = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) traces += e.path().extension() == ".pftrace";
  CHECK(traces == 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pflab::traces
