#include "replay/fake_server.h"

#include "replay/simulation.h"

namespace pflab::replay {

fake_gcs::Shaping ShapingFromProfile(const sim::NetworkProfile& profile) {
  fake_gcs::Shaping shaping;
  shaping.latency_median = profile.latency_median_ns;
  shaping.latency_p99 = profile.constant_latency() ? 0 : profile.latency_p99_ns;
  shaping.bandwidth_bytes_per_s = profile.stream_bandwidth_bytes_per_s;
  return shaping;
}

Result<std::unique_ptr<fake_gcs::FakeGcsServer>> StartFakeServer(const std::vector<const traces::Trace*>& traces,
                                                                 const sim::NetworkProfile& profile, std::uint64_t seed,
                                                                 const nlohmann::json& faults) {
  fake_gcs::ServerOptions options;
  options.seed = seed;
  options.shaping = ShapingFromProfile(profile);
  // Metadata and listing are not part of a replay; only media reads are shaped by the profile.
  options.route_shaping["metadata"] = {};
  options.route_shaping["list"] = {};
  nlohmann::json drawn =
      faults.is_null() ? nlohmann::json{{"seed", seed}, {"faults", nlohmann::json::array()}} : faults;
  if (profile.failure_probability > 0 && drawn.is_object() && drawn.contains("faults") && drawn["faults"].is_array()) {
    drawn["faults"].push_back({{"instruction", "return-503"},
                               {"probability", profile.failure_probability},
                               {"methods", {"storage.objects.get"}}});
  }
  if (!faults.is_null() || profile.failure_probability > 0) {
    auto parsed = fake_gcs::FaultProfile::Parse(drawn, faults.is_null() ? "profile failure_probability" : "faults");
    if (!parsed) return parsed.error();
    options.faults.emplace(*parsed);
  }
  auto server = std::make_unique<fake_gcs::FakeGcsServer>(std::move(options));
  for (const auto* trace : traces) {
    for (const auto& object : trace->objects) {
      const ObjectRef ref = TraceObjectRef(object);
      auto put = server->store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation);
      if (!put) return put.error();
      // The whole-object hashes a media response carries are computed on first use: for a 256 MiB
      // object that is most of a second, which would land in the first timed run that reads it
      // (`pflab fidelity` measured it there). Compute them now, before anything is timed.
      if (auto stored = server->store().Get(ref.bucket, ref.name, ref.generation)) server->store().Hashes(**stored);
    }
  }
  auto port = server->Start();
  if (!port) return port.error();
  return server;
}

}  // namespace pflab::replay
