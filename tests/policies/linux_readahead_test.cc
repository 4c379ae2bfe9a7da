// Linux on-demand readahead. Expected requests are worked by hand from mm/readahead.c
// (CachyOS/linux@4cbe8f83): get_init_ra_size (x4 up to max/32, x2 up to max/4, else max),
// get_next_ra_size (x4 below max/16, x2 up to max/2, else max), ondemand_readahead (start of file;
// the expected index start + size - async_size; prev_index; try_context_readahead; the small random
// read), page_cache_ra_unbounded (the PG_readahead marker at nr_to_read - lookahead_size, batches broken
// at cached pages), and the per-page loop of the generic file read (sync readahead on a missing page,
// async readahead on a marked one, read_folio after a failed readahead). Pages are 4 KiB.
#include "policies/linux_readahead.h"

#include <catch2/catch.hpp>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"
#include "tests/support/policy_harness.h"

namespace pflab::policies {
namespace {

using Req = testing::LoggedRequest;

struct Harness : testing::PolicyHarness<LinuxReadahead> {
  explicit Harness(std::uint64_t size, LinuxReadaheadOptions options = {})
      : PolicyHarness(size, kMillisecond, options) {}
};

LinuxReadaheadOptions Options(std::uint64_t read_ahead, std::uint64_t fuse_max) {
  LinuxReadaheadOptions o;
  o.read_ahead = read_ahead;
  o.fuse_max = fuse_max;
  return o;
}

TEST_CASE("linux readahead: sequential 16 KiB reads ramp 8 - 16 - 32 pages - then 32-page async windows",
          "[policies][linux-readahead]") {
  Harness h(16 * kMiB);
  for (int i = 0; i < 16; ++i) h.ReadOk(i * 16 * kKiB, (i + 1) * 16 * kKiB);
  // Read 1 (page 0): initial window, init(4) = 8 pages, async 4, marker on page 4.
  // Read 2 hits page 4 = start + size - async: next(8) = 16 pages from page 8, marker on page 8.
  // Read 3 hits page 8: next(16) = 32 from page 24. Reads 7 and 15 hit pages 24 and 56: 32 more each.
  CHECK(h.lower.requests == std::vector<Req>{{0, 32 * kKiB, 0, 0},
                                             {32 * kKiB, 96 * kKiB, 0, 0},
                                             {96 * kKiB, 224 * kKiB, 0, 0},
                                             {224 * kKiB, 352 * kKiB, 0, 0},
                                             {352 * kKiB, 480 * kKiB, 0, 0}});
}

TEST_CASE("linux readahead: a larger read_ahead ramps further - FUSE splits requests at 128 KiB",
          "[policies][linux-readahead]") {
  Harness h(16 * kMiB, Options(512 * kKiB, 128 * kKiB));
  for (int i = 0; i < 5; ++i) h.ReadOk(i * 16 * kKiB, (i + 1) * 16 * kKiB);
  // max = 128 pages. init(4) = 16 (4 <= 128/32), async 12: marker page 4. Page 4: next(16) = 32 from
  // page 16, marker 16. Read 5 (page 16): next(32) = 64 pages from 48, sent as two 128 KiB READs.
  CHECK(h.lower.requests == std::vector<Req>{{0, 64 * kKiB, 0, 0},
                                             {64 * kKiB, 192 * kKiB, 0, 0},
                                             {192 * kKiB, 320 * kKiB, 0, 0},
                                             {320 * kKiB, 448 * kKiB, 0, 0}});
}

TEST_CASE("linux readahead: a small random read is read as is - the next sequential one opens a window",
          "[policies][linux-readahead]") {
  Harness h(16 * kMiB);
  h.ReadOk(kMiB, kMiB + 16 * kKiB);              // prev_pos is -1: not sequential; no history: as is
  h.ReadOk(kMiB + 16 * kKiB, kMiB + 32 * kKiB);  // index 260, prev index 259: initial window of 8
  h.ReadOk(8 * kMiB, 8 * kMiB + 16 * kKiB);      // far away, no history: as is
  CHECK(h.lower.requests == std::vector<Req>{{kMiB, kMiB + 16 * kKiB, 0, 0},
                                             {kMiB + 16 * kKiB, kMiB + 48 * kKiB, 0, 0},
                                             {8 * kMiB, 8 * kMiB + 16 * kKiB, 0, 0}});
}

TEST_CASE("linux readahead: context readahead from cached history pages", "[policies][linux-readahead]") {
  Harness h(16 * kMiB);
  h.ReadOk(0, 16 * kKiB);          // [0, 32K)
  h.ReadOk(16 * kKiB, 32 * kKiB);  // [32K, 96K): pages 0..23 cached
  // Page 24 is missing and not sequential (prev index 7). The 24 pages behind it are cached, reaching
  // the file start, so history doubles to 48: window min(48 + 1, 32) = 32 pages from 24, async 1.
  h.ReadOk(96 * kKiB, 100 * kKiB);
  REQUIRE(h.lower.requests.size() == 3);
  CHECK(h.lower.requests[2] == Req{96 * kKiB, 224 * kKiB, 0, 0});
}

TEST_CASE("linux readahead: a failed readahead is retried as one page - then read on", "[policies][linux-readahead]") {
  Harness h(16 * kMiB);
  h.lower.fail_at_request = 0;
  h.ReadOk(0, 16 * kKiB);
  // [0, 32K) fails and leaves the cache; the reader reads page 0 alone (read_folio), then page 1 is a
  // miss with page 0 behind it: one history page is not more than the 3 requested, so as is.
  CHECK(h.lower.requests == std::vector<Req>{{0, 32 * kKiB, 0, 0}, {0, 4 * kKiB, 0, 0}, {4 * kKiB, 16 * kKiB, 0, 0}});
  SECTION("and a failed single page fails the read") {
    Harness f(16 * kMiB);
    f.lower.fail_requests = {0, 1};
    auto r = f.Read(0, 16 * kKiB);
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("injected failure") != std::string::npos);
    CHECK(f.lower.requests.size() == 2);  // the window, then page 0 alone
  }
}

TEST_CASE("linux readahead: the page cache is bounded - reads hit it - EOF clips the window",
          "[policies][linux-readahead]") {
  LinuxReadaheadOptions o;
  o.cache = 64 * kKiB;
  Harness h(100 * kKiB, o);
  h.ReadOk(0, 16 * kKiB);
  h.ReadOk(0, 16 * kKiB);  // cached: no request
  CHECK(h.lower.requests.size() == 1);
  for (int i = 1; i < 6; ++i) h.ReadOk(i * 16 * kKiB, std::min<std::uint64_t>((i + 1) * 16 * kKiB, 100 * kKiB));
  for (const auto& r : h.lower.requests) CHECK(r.end <= 100 * kKiB);
  CHECK(h.account.held_bytes() <= 64 * kKiB + 96 * kKiB);  // the cache, plus the chunk it still shares
  h.ReadOk(0, 4 * kKiB);                                   // evicted long ago: fetched again
  CHECK(h.lower.requests.back().begin == 0);
}

TEST_CASE("linux readahead: registry parameters and placement", "[policies][linux-readahead]") {
  CHECK(ValidateStack(*ParseStackSpec("linux-readahead(read_ahead=1MiB,fuse_max=0)")).ok());
  CHECK(ValidateStack(*ParseStackSpec("fsspec-readahead > linux-readahead > concurrent(parts=2)")).ok());
  auto below = ValidateStack(*ParseStackSpec("linux-readahead > gcsfs-v795"));
  REQUIRE(!below.ok());
  CHECK(below.error().message.find("directly on the fetcher") != std::string::npos);
  CHECK(!ValidateStack(*ParseStackSpec("linux-readahead(read_ahead=1000)")).ok());
  CHECK(!ValidateStack(*ParseStackSpec("linux-readahead(readahead=1MiB)")).ok());
}

}  // namespace
}  // namespace pflab::policies
