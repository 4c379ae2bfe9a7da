// The oracle's request sequences, worked by hand from its rules (policies/oracle.h): need order,
// merging up to `request` across holes up to `gap`, the memory cap, dropping bytes after their last
// planned use, on-demand fetches for reads the trace did not announce, errors and cancel.
#include "policies/oracle.h"

#include <catch2/catch.hpp>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"

namespace pflab::policies {
namespace {

using Req = testing::LoggedRequest;

struct Harness {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  testing::LoggingSource lower;
  Oracle oracle;

  Harness(std::vector<ByteRange> future, OracleOptions options, std::uint64_t size = 64 * kMiB)
      : lower(&scheduler, size, kMillisecond, &account),
        oracle(LayerContext{&scheduler, &events, 0}, &lower, options,
               std::make_shared<const std::vector<ByteRange>>(std::move(future))) {}

  Result<Slices> Read(ByteRange r) {
    std::optional<Result<Slices>> got;
    oracle.Read(r, [&](Result<Slices> x) { got = std::move(x); });
    scheduler.Run();
    REQUIRE(got.has_value());
    return std::move(*got);
  }
};

std::vector<ByteRange> Blocks(std::initializer_list<int> ks) {
  std::vector<ByteRange> out;
  for (int k : ks) out.push_back({(k - 1) * kMiB, k * kMiB});
  return out;
}

TEST_CASE("oracle: sequential reads are fetched ahead in request-sized pieces under the memory cap",
          "[policies][oracle]") {
  std::vector<ByteRange> future;
  for (int k = 1; k <= 24; ++k) future.push_back({(k - 1) * kMiB, k * kMiB});
  Harness h(future, OracleOptions{16 * kMiB, 4 * kMiB, 0});
  // First read: the plan covers reads 1..16 (16 MiB, the cap) in 4 MiB requests.
  REQUIRE(TotalLength(*h.Read(future[0])) == kMiB);
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 4 * kMiB, 0, 0},
                                               {4 * kMiB, 8 * kMiB, 0, 0},
                                               {8 * kMiB, 12 * kMiB, 0, 0},
                                               {12 * kMiB, 16 * kMiB, 0, 0}});
  // Reads 2..4 use the first piece; after read 4 it is dropped and the plan moves on by 4 MiB.
  for (int k = 2; k <= 4; ++k) REQUIRE(h.Read(future[k - 1]).ok());
  REQUIRE(h.lower.requests.size() == 5);
  CHECK(h.lower.requests[4] == Req{16 * kMiB, 20 * kMiB, 0, 0});
  for (int k = 5; k <= 24; ++k) REQUIRE(h.Read(future[k - 1]).ok());
  CHECK(h.lower.requests.size() == 6);  // 24 MiB in 4 MiB requests, nothing twice
  // The cap, plus the 4 MiB piece the harness still holds through read 4's slices while the next
  // piece arrives.
  CHECK(h.account.peak_bytes() <= 20 * kMiB);
}

TEST_CASE("oracle: a block read again later is kept, not fetched twice (backtrack)", "[policies][oracle]") {
  const auto future = Blocks({1, 2, 3, 4, 2, 5, 6, 7, 5});
  Harness h(future, OracleOptions{64 * kMiB, 16 * kMiB, 0});
  for (const auto& r : future) REQUIRE(TotalLength(*h.Read(r)) == kMiB);
  // Blocks 1..7 in need order, merged into one request.
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 7 * kMiB, 0, 0}});
}

TEST_CASE("oracle: holes up to gap are fetched, larger ones split the request", "[policies][oracle]") {
  const std::vector<ByteRange> future = {{0, kMiB}, {2 * kMiB, 3 * kMiB}, {10 * kMiB, 11 * kMiB}};
  SECTION("gap 1 MiB: the first hole is bridged, the 7 MiB one is not") {
    Harness h(future, OracleOptions{64 * kMiB, 16 * kMiB, kMiB});
    for (const auto& r : future) REQUIRE(h.Read(r).ok());
    REQUIRE(h.lower.requests == std::vector<Req>{{0, 3 * kMiB, 0, 0}, {10 * kMiB, 11 * kMiB, 0, 0}});
  }
  SECTION("gap 0: one request per read") {
    Harness h(future, OracleOptions{64 * kMiB, 16 * kMiB, 0});
    for (const auto& r : future) REQUIRE(h.Read(r).ok());
    CHECK(h.lower.requests.size() == 3);
  }
}

TEST_CASE("oracle: a read the trace did not announce is fetched on demand", "[policies][oracle]") {
  Harness h(Blocks({1, 2}), OracleOptions{});
  REQUIRE(TotalLength(*h.Read({40 * kMiB, 41 * kMiB})) == kMiB);
  // The plan fetched the announced reads; the surprise read got its own request.
  REQUIRE(h.lower.requests == std::vector<Req>{{0, 2 * kMiB, 0, 0}, {40 * kMiB, 41 * kMiB, 0, 0}});
  // The announced reads are still served from what was planned.
  REQUIRE(h.Read({0, kMiB}).ok());
  REQUIRE(h.Read({kMiB, 2 * kMiB}).ok());
  CHECK(h.lower.requests.size() == 2);
}

TEST_CASE("oracle: a failed fetch fails the read waiting on it; the next read refetches", "[policies][oracle]") {
  const auto future = Blocks({1, 2});
  Harness h(future, OracleOptions{64 * kMiB, kMiB, 0});
  h.lower.fail_requests = {0};
  auto first = h.Read(future[0]);
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().retryable);
  // Read 1 again (the application retries): fetched on demand.
  REQUIRE(TotalLength(*h.Read(future[0])) == kMiB);
  REQUIRE(TotalLength(*h.Read(future[1])) == kMiB);
}

TEST_CASE("oracle: cancel completes the read once with kCancelled", "[policies][oracle]") {
  Harness h(Blocks({1}), OracleOptions{});
  int calls = 0;
  std::optional<Result<Slices>> got;
  const ReadId id = h.oracle.Read({0, kMiB}, [&](Result<Slices> r) {
    ++calls;
    got = std::move(r);
  });
  h.oracle.Cancel(id);
  h.scheduler.Run();
  CHECK(calls == 1);
  REQUIRE(got.has_value());
  CHECK(got->error().code == ErrorCode::kCancelled);
}

TEST_CASE("oracle: stands alone over the fetcher", "[policies][oracle][registry]") {
  CHECK(ValidateStack(*ParseStackSpec("oracle")).ok());
  CHECK(ValidateStack(*ParseStackSpec("oracle(memory=64MiB,request=8MiB,gap=0) > concurrent(parts=4)")).ok());
  CHECK_FALSE(ValidateStack(*ParseStackSpec("fsspec-readahead > oracle")).ok());
  CHECK_FALSE(ValidateStack(*ParseStackSpec("oracle > gcsfs-adaptive")).ok());
  CHECK_FALSE(ValidateStack(*ParseStackSpec("oracle(memory=0)")).ok());
}

}  // namespace
}  // namespace pflab::policies
