// --verify-bytes in the simulator checks bytes by provenance (engine/buffer.h): every chunk records
// which object offsets its fills came from. These cases show the check can fail: a transport that
// fetches the wrong bytes, and one that fills nothing, are both caught; and a 1 TiB read is checked
// without a payload.
#include <catch2/catch.hpp>

#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"
#include "tests/support/forwarding_transport.h"
#include "tests/support/run_config.h"

namespace pflab::replay {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// Fetches the object's bytes one past those asked for: a transport bug that puts wrong bytes in the
// right place.
class OffByOneTransport final : public testing::ForwardingTransport {
 public:
  using ForwardingTransport::ForwardingTransport;
  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override {
    return inner()->Fetch(object, {range.begin + 1, range.end + 1}, std::move(target), std::move(done));
  }
};

traces::Trace OneRead(std::uint64_t object_size, std::uint64_t offset, std::uint64_t length) {
  traces::Trace t;
  t.name = "t";
  t.objects.push_back({"o0", "b", "obj", object_size});
  t.records.push_back({0, 0, 0, offset, length, -1});
  return t;
}

SimulationConfig Config(const traces::Trace& trace, const std::string& policy) {
  return testing::RunConfig(trace, policy, "local-fast");
}

Result<RunResult> Run(const SimulationConfig& c, bool off_by_one, bool record_provenance) {
  MemoryAccount account;
  sim::SimScheduler scheduler;
  sim::SimTransport sim(&scheduler, c.profile, c.seed,
                        sim::SimTransportOptions{.record_provenance = record_provenance});
  OffByOneTransport shifted(&sim);
  Transport& transport = off_by_one ? static_cast<Transport&>(shifted) : sim;
  return Replay(c, scheduler, transport, account, [&](const std::function<void()>&) { scheduler.Run(); });
}

TEST_CASE("verify bytes: provenance catches wrong bytes and unfilled bytes", "[replay][bytes]") {
  const traces::Trace trace = OneRead(64 * kMiB, 3 * kMiB + 5, kMiB);
  for (const char* policy : {"none", "fsspec-readahead > concurrent(parts=4)"}) {
    INFO(policy);
    const SimulationConfig c = Config(trace, policy);
    auto good = Run(c, false, true);
    INFO((good ? "" : good.error().message));
    REQUIRE(good.ok());
    CHECK(good->metrics.bytes_read == kMiB);

    // Wrong bytes do not abort the run: it is recorded as failed, with the first offset that differs.
    auto shifted = Run(c, true, true);
    REQUIRE(shifted.ok());
    CHECK(shifted->failed());
    CHECK(shifted->metrics.reads_wrong == 1);
    REQUIRE(!shifted->errors.first.empty());
    CHECK(shifted->errors.first[0].code == ErrorCode::kDataLoss);
    CHECK(shifted->errors.first[0].first_wrong_byte == std::optional<std::uint64_t>(3 * kMiB + 5));
    CHECK_THAT(shifted->errors.first[0].message,
               Catch::StartsWith("byte 3145733 of obj differs from the object's content (the chunk holds byte "
                                 "3145734 of it)"));

    auto unfilled = Run(c, false, false);
    REQUIRE(unfilled.ok());
    CHECK(unfilled->metrics.reads_wrong == 1);
    REQUIRE(!unfilled->errors.first.empty());
    CHECK(unfilled->errors.first[0].message == "byte 3145733 of obj was delivered but never filled by the transport");
  }
}

TEST_CASE("verify bytes: a 1 TiB read is checked without a payload", "[replay][bytes]") {
  const std::uint64_t tib = 1ull << 40;
  const traces::Trace trace = OneRead(tib, 0, tib);
  auto result = RunSimulation(Config(trace, "concurrent(parts=16)"));
  INFO((result ? "" : result.error().message));
  REQUIRE(result.ok());
  CHECK(result->metrics.bytes_read == tib);
  CHECK(result->metrics.peak_memory_bytes == tib);  // accounted, never allocated
}

}  // namespace
}  // namespace pflab::replay
