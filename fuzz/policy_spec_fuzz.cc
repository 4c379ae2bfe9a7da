// Fuzzes the policy spec parser and the stack builder (policies/registry.h). An accepted spec must
// round-trip: written back in canonical form (`name(key=value, ...) > ...`) it parses to the same
// layers. A spec the registry validates must build, and the stack must replay a small fixed trace in
// the simulator delivering every byte right (fsspec-parts, which serves only its parts, just runs);
// one it rejects must fail to run with the same error.
#include <any>
#include <sstream>

#include "fuzz/fuzz_check.h"
#include "policies/oracle.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/network_model.h"

namespace {

using pflab::policies::StackSpec;

std::string Canonical(const StackSpec& spec) {
  std::string out;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& layer = spec.layers[i];
    out += (i ? " > " : "") + layer.name;
    if (layer.params.empty()) continue;
    out += "(";
    bool first = true;
    for (const auto& [key, value] : layer.params) {
      out += (first ? "" : ", ") + key + "=" + value;
      first = false;
    }
    out += ")";
  }
  return out;
}

bool SameLayers(const StackSpec& a, const StackSpec& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    if (a.layers[i].name != b.layers[i].name || a.layers[i].params != b.layers[i].params) return false;
  }
  return true;
}

// One object of 256 KiB read by two streams: sequential, backwards, the last bytes, an empty read,
// and a hint (for arrow-coalesce).
const pflab::traces::Trace& SmallTrace() {
  static const pflab::traces::Trace trace = [] {
    pflab::traces::Trace t;
    t.name = "fuzz";
    t.objects.push_back({"o", "pflab", "fuzz.bin", 256 << 10});
    std::uint64_t offset = 0;
    for (int i = 0; i < 6; ++i, offset += 5000) t.records.push_back({i * 1000, 0, 0, offset, 5000, -1});
    t.records.push_back({7000, 1, 0, 200000, 30000, -1});
    t.records.push_back({8000, 1, 0, 1000, 70000, -1});
    t.records.push_back({9000, 0, 0, (256 << 10) - 100, 100, -1});
    t.records.push_back({9000, 1, 0, 77, 0, -1});
    t.hints.push_back({6500, 1, 0, {{200000, 230000}, {1000, 71000}}, 6});
    return t;
  }();
  return trace;
}

// `oracle` with a tiny forced region size (`request` under 4 KiB) plans one region per few bytes, and
// its plan search times every candidate: seconds on this small trace in this build. Such specs are
// only parsed and validated.
bool KnownSlow(const StackSpec& spec) {
  const auto* entry = pflab::policies::FindPolicy("oracle");
  if (entry == nullptr) return false;
  for (const auto& layer : spec.layers) {
    if (layer.name != "oracle") continue;
    auto options = entry->Parse(layer.params);
    if (!options) continue;
    const auto& o = std::any_cast<const pflab::policies::OracleOptions&>(*options);
    if (o.request && *o.request < 4096) return true;
  }
  return false;
}

void CheckRuns(const StackSpec& spec, const pflab::Status& valid) {
  using namespace pflab;
  if (valid.ok() && KnownSlow(spec)) return;
  static const auto profile = sim::FindProfile("gcs-regional");
  FUZZ_REQUIRE(profile.ok(), "the gcs-regional profile did not load");
  replay::SimulationConfig config;
  config.trace = &SmallTrace();
  config.policy = spec;
  config.profile_name = "gcs-regional";
  config.profile = *profile;
  // fsspec-parts serves only the parts it is given, as fsspec's KnownPartsOfAFile does: reads starting
  // outside them fail and gaps read as zeros, by design (policies/fsspec_parts.h).
  bool parts = false;
  for (const auto& layer : spec.layers) parts |= layer.name == "fsspec-parts";
  config.verify_bytes = !parts;
  auto run = replay::RunSimulation(config);
  if (!valid) {
    FUZZ_REQUIRE(!run.ok() && run.error().message == valid.error().message,
                 "a rejected spec ran, or failed differently: " + valid.error().message);
    return;
  }
  FUZZ_REQUIRE(run.ok(), "a valid spec failed to run: " + run.error().message);
  FUZZ_REQUIRE(run->metrics.reads == SmallTrace().records.size(), "reads: " + std::to_string(run->metrics.reads));
  if (parts) return;
  std::uint64_t bytes = 0;
  for (const auto& r : SmallTrace().records) bytes += r.length;
  FUZZ_REQUIRE(
      run->metrics.reads == SmallTrace().records.size() && run->metrics.reads_failed == 0,
      "reads: " + std::to_string(run->metrics.reads) + ", failed " + std::to_string(run->metrics.reads_failed));
  FUZZ_REQUIRE(run->metrics.bytes_read == bytes, "bytes read: " + std::to_string(run->metrics.bytes_read));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  if (size > 512) return 0;  // specs are short; long ones only slow the search down
  const std::string_view text = fuzz::AsText(data, size);
  auto spec = policies::ParseStackSpec(text);
  if (spec) {
    const std::string canonical = Canonical(*spec);
    auto again = policies::ParseStackSpec(canonical);
    FUZZ_REQUIRE(again.ok(), "canonical form '" + canonical + "' does not parse: " + again.error().message);
    FUZZ_REQUIRE(SameLayers(*spec, *again), "'" + canonical + "' parses to other layers");
    FUZZ_REQUIRE(Canonical(*again) == canonical, "canonical form is not stable: '" + canonical + "'");
    const Status valid = policies::ValidateStack(*spec);
    const Status valid_again = policies::ValidateStack(*again);
    FUZZ_REQUIRE(valid.ok() == valid_again.ok(), "validation depends on the spelling: '" + canonical + "'");
    CheckRuns(*spec, valid);
  }
  auto list = policies::ParsePolicyList(text);
  if (list) {
    std::string joined;
    for (const auto& s : *list) {
      FUZZ_REQUIRE(policies::ValidateStack(s).ok(), "ParsePolicyList returned an invalid spec: " + s.text);
      joined += (joined.empty() ? "" : ", ") + Canonical(s);
    }
    auto again = policies::ParsePolicyList(joined);
    FUZZ_REQUIRE(again.ok() && again->size() == list->size(), "the list '" + joined + "' does not parse back");
    for (std::size_t i = 0; i < list->size(); ++i) {
      FUZZ_REQUIRE(SameLayers((*list)[i], (*again)[i]), "'" + joined + "' parses to other layers");
    }
  }
  return 0;
}
