// The gcsfs/fsspec debug-log importer. The fixture gcsfs_debug.log was written by make_gcsfs_log.py
// (next to it): real fsspec 2022.11 read lines and readahead cache, gcsfs _call lines from a stand-in
// that logs gcsfs's exact message (gcsfs itself is not installable here).
#include "traces/import_gcsfs_log.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "traces/trace_io.h"

namespace {

using pflab::traces::GcsfsLogImportOptions;
using pflab::traces::GcsfsLogKind;
using pflab::traces::ImportGcsfsLog;
using pflab::traces::ImportGcsfsLogFile;
using pflab::traces::InclusiveRangeToRead;
using pflab::traces::Trace;

const std::string kLog = std::string(PFLAB_SOURCE_DIR) + "/tests/traces/fixtures/gcsfs_debug.log";

GcsfsLogImportOptions Kind(GcsfsLogKind kind, const std::string& file = "") {
  GcsfsLogImportOptions o;
  o.kind = kind;
  o.file = file;
  return o;
}

pflab::Result<Trace> Import(const std::string& text, GcsfsLogKind kind = GcsfsLogKind::kGets) {
  std::istringstream in(text);
  return ImportGcsfsLog(in, "g.log", Kind(kind));
}

// (object, offset, length, t_ms) of each record.
std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::int64_t>> Reads(const Trace& t) {
  std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::int64_t>> out;
  for (const auto& r : t.records) out.emplace_back(r.object, r.offset, r.length, r.t_ns / 1000000);
  return out;
}

const std::string kGet =
    "2026-01-02 03:04:05,100 - gcsfs - DEBUG - _call -- GET: "
    "https://storage.googleapis.com/download/storage/v1/b/bkt/o/";

}  // namespace

TEST_CASE("gcsfs-log import: HTTP's inclusive range becomes offset and length in one place", "[traces][import]") {
  auto r = InclusiveRangeToRead("bytes=0-0");
  REQUIRE(r);
  CHECK(r->offset == 0);
  CHECK(r->length == 1);
  r = InclusiveRangeToRead("bytes=9000000-9999999");
  REQUIRE(r);
  CHECK(r->offset == 9000000);
  CHECK(r->length == 1000000);
  CHECK_FALSE(InclusiveRangeToRead("bytes=5-"));
  CHECK_FALSE(InclusiveRangeToRead("bytes=-5"));
  CHECK_FALSE(InclusiveRangeToRead("bytes=9-3"));
  CHECK_FALSE(InclusiveRangeToRead("items=0-1"));
  CHECK_FALSE(InclusiveRangeToRead("bytes=0-1,4-5"));
}

TEST_CASE("gcsfs-log import: gcsfs's ranged GETs, one object per bucket/object", "[traces][import]") {
  auto t = ImportGcsfsLogFile(kLog, Kind(GcsfsLogKind::kGets));
  INFO((t ? "" : t.error().message));
  REQUIRE(t);
  REQUIRE(t->objects.size() == 2);
  CHECK(t->objects[0].bucket == "my-bucket");
  CHECK(t->objects[0].name == "data/part 0.parquet");  // percent-decoded
  CHECK(t->objects[0].size == 10000000);
  CHECK(t->objects[1].bucket == "other-bucket");
  CHECK(t->objects[1].name == "x.bin");
  CHECK(t->objects[1].size == 1000100);
  // The metadata GET (b/{}/o/{}) is not a read. Times are the lines' asctime minus the first GET's.
  CHECK(Reads(*t) == std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::int64_t>>{
                         {0, 9999992, 8, 0}, {0, 9000000, 1000000, 15}, {0, 0, 1400000, 82}, {1, 0, 1000100, 285}});
  CHECK(t->source["kind"] == "gets");
  CHECK(t->source["skipped"]["other_kind"] == 7);
  std::stringstream out;
  pflab::traces::WriteTrace(out, *t);
  CHECK(pflab::traces::ParseTrace(out, "written"));
}

TEST_CASE("gcsfs-log import: fsspec's read lines are the application's reads", "[traces][import]") {
  auto t = ImportGcsfsLogFile(kLog, Kind(GcsfsLogKind::kReads));
  INFO((t ? "" : t.error().message));
  REQUIRE(t);
  REQUIRE(t->objects.size() == 2);
  CHECK(t->objects[0].name == "data/part 0.parquet");
  CHECK(t->objects[1].size == 100);
  CHECK(Reads(*t) ==
        std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::int64_t>>{{0, 9999992, 8, 0},
                                                                                           {0, 9000000, 500000, 15},
                                                                                           {0, 0, 400000, 83},
                                                                                           {0, 400000, 400000, 268},
                                                                                           {0, 800000, 400000, 277},
                                                                                           {1, 0, 100, 286},
                                                                                           {0, 1200000, 10, 306}});

  auto only_x = ImportGcsfsLogFile(kLog, Kind(GcsfsLogKind::kReads, "x.bin"));
  REQUIRE(only_x);
  REQUIRE(only_x->objects.size() == 1);
  CHECK(only_x->records.size() == 1);
  auto glob = ImportGcsfsLogFile(kLog, Kind(GcsfsLogKind::kGets, "my-bucket/*.parquet"));
  REQUIRE(glob);
  CHECK(glob->records.size() == 3);
}

TEST_CASE("gcsfs-log import: recent fsspec's cache statistics, encoded names, other lines", "[traces][import]") {
  const std::string text =
      "Traceback (most recent call last):\n"
      "2026-01-02 03:04:05,000 - fsspec - DEBUG - read -- <File-like object GCSFileSystem, bkt/a b> read: 0 - 100 "
      " , readahead: 0 hits, 1 misses, 5242980 total requested bytes\n"
      "2026-01-02 03:04:05,010 - fsspec.caching - DEBUG - _fetch -- MMap cache fetching 0-100\n"
      "2026-01-02 03:04:05,020 - fsspec - DEBUG - read -- <File-like object GCSFileSystem, bkt/a b> read: 100 - 100\n"
      "2026-01-02 03:04:06,500 - fsspec - DEBUG - read -- <File-like object GCSFileSystem, bkt/a b> read: 100 - 300\n";
  auto reads = Import(text, GcsfsLogKind::kReads);
  INFO((reads ? "" : reads.error().message));
  REQUIRE(reads);
  CHECK(reads->objects[0].bucket == "bkt");
  CHECK(reads->objects[0].name == "a b");
  CHECK(Reads(*reads) == std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::int64_t>>{
                             {0, 0, 100, 0}, {0, 100, 200, 1500}});
  CHECK(reads->source["skipped"]["non_log_lines"] == 1);
  CHECK(reads->source["skipped"]["zero_length"] == 1);

  auto encoded = Import(kGet + "dir%2Fsub%2Fx%20y.bin?alt=media&generation=5, (), {'Range': 'bytes=10-19'}\n");
  REQUIRE(encoded);
  CHECK(encoded->objects[0].name == "dir/sub/x y.bin");
  CHECK(encoded->records[0].offset == 10);
  CHECK(encoded->records[0].length == 10);
}

TEST_CASE("gcsfs-log import: what the log cannot say is an error naming the file and line", "[traces][import]") {
  auto whole = Import("\n" + kGet + "x?alt=media, (), {}\n");
  REQUIRE_FALSE(whole);
  CHECK_THAT(whole.error().message, Catch::StartsWith("g.log:2: GET of all of gs://bkt/x (no Range header)"));
  auto open = Import(kGet + "x?alt=media, (), {'Range': 'bytes=100-'}\n");
  REQUIRE_FALSE(open);
  CHECK_THAT(open.error().message, Catch::StartsWith("g.log:1: Range 'bytes=100-' is not a closed range"));
  auto bad_url =
      Import("2026-01-02 03:04:05,100 - gcsfs - DEBUG - _call -- GET: https://h/storage/v1/x?alt=media, (), None\n");
  REQUIRE_FALSE(bad_url);
  CHECK_THAT(bad_url.error().message, Catch::StartsWith("g.log:1: media GET whose URL has no /b/BUCKET/o/OBJECT"));
  auto not_a_log = Import("GET /b/x 200\n");
  REQUIRE_FALSE(not_a_log);
  CHECK_THAT(not_a_log.error().message, Catch::Contains("no lines in the format of fsspec.utils.setup_logging"));
  auto wrong_kind = ImportGcsfsLogFile(kLog, Kind(GcsfsLogKind::kGets, "nothing"));
  REQUIRE_FALSE(wrong_kind);
  CHECK_THAT(wrong_kind.error().message, Catch::Contains("reads of other objects than 'nothing'"));
  auto backwards = Import(kGet + "x?alt=media, (), {'Range': 'bytes=0-9'}\n" +
                          "2026-01-02 03:04:04,100 - gcsfs - DEBUG - _call -- GET: "
                          "https://storage.googleapis.com/download/storage/v1/b/bkt/o/x?alt=media, (), "
                          "{'Range': 'bytes=0-9'}\n");
  REQUIRE_FALSE(backwards);
  CHECK_THAT(backwards.error().message, Catch::StartsWith("g.log:2: time goes backwards"));
}

// Found by fuzz/import_gcsfs_log_fuzz.cc: a percent-encoded (or raw) object name that is not UTF-8 made
// a trace whose writing threw, so `pflab import gcsfs-log` died with an uncaught exception.
TEST_CASE("gcsfs-log import: an object name that is not UTF-8 is an error naming the line", "[traces][import]") {
  auto encoded = Import("\n" + kGet + "a%FFb?alt=media, (), {'Range': 'bytes=0-9'}\n");
  REQUIRE_FALSE(encoded);
  CHECK(encoded.error().message ==
        "g.log:2: object name 'a\\xffb' is not valid UTF-8 (trace files and GCS object names are UTF-8)");
  auto raw = Import(
      "2026-01-02 03:04:05,100 - fsspec - DEBUG - read -- <File-like object GCSFileSystem, bkt/\x97x> read: 0 - 10\n",
      GcsfsLogKind::kReads);
  REQUIRE_FALSE(raw);
  CHECK_THAT(raw.error().message, Catch::StartsWith("g.log:1: object name '\\x97x' is not valid UTF-8"));
}

// Found by fuzz/import_gcsfs_log_fuzz.cc (UBSan): a well-formed time in a year past 2262 overflowed the
// nanoseconds since 1970 (signed overflow, undefined behaviour). Years nanoseconds cannot count are an
// error naming the line, reads more than 292 years apart too, and logs from before 1970 import.
TEST_CASE("gcsfs-log import: times outside what 64-bit nanoseconds count are errors", "[traces][import]") {
  const std::string rest =
      " - gcsfs - DEBUG - _call -- GET: https://storage.googleapis.com/download/storage/v1/b/bkt/o/x?alt=media, (), "
      "{'Range': 'bytes=0-9'}\n";
  auto far = Import("2026-01-02 03:04:05,100" + rest + "9999-12-31 23:59:59,999" + rest);
  REQUIRE_FALSE(far);
  CHECK(far.error().message ==
        "g.log:2: time '9999-12-31 23:59:59,999' is outside the years 1678..2261 (nanoseconds since 1970 in 64 bits)");
  auto early = Import("0001-01-01 00:00:00,000" + rest);
  REQUIRE_FALSE(early);
  CHECK_THAT(early.error().message, Catch::StartsWith("g.log:1: time '0001-01-01 00:00:00,000' is outside"));
  auto span = Import("1700-01-01 00:00:00,000" + rest + "2200-01-01 00:00:00,000" + rest);
  REQUIRE_FALSE(span);
  CHECK_THAT(span.error().message, Catch::StartsWith("g.log:2: this read comes more than 292 years after the first"));
  auto before_1970 = Import("1969-12-31 23:59:59,000" + rest + "1969-12-31 23:59:59,500" + rest);
  REQUIRE(before_1970);
  CHECK(before_1970->records.size() == 2);
  CHECK(before_1970->records[1].t_ns == 500000000);
}
