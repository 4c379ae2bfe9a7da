#include "replay/fake_server.h"

#include "replay/transport_stack.h"

namespace pflab::replay {

Result<std::unique_ptr<fake_gcs::FakeGcsServer>> StartFakeServer(const std::vector<const traces::Trace*>& traces,
                                                                 const netmodel::NetworkProfile& profile,
                                                                 std::uint64_t seed, const RunFaults& faults) {
  fake_gcs::ServerOptions options;
  options.seed = seed;
  options.shaping = profile;  // the server imposes its latency and per-connection bandwidth
  // ... and its link, shared by every response body at once: a slow-link profile is then a slow link
  // through the server too (its links faster than the loopback never bind).
  options.link_bandwidth_bytes_per_s = profile.link_bandwidth_bytes_per_s;
  // Metadata and listing are not part of a replay; only media reads are shaped by the profile.
  options.route_shaping["metadata"] = netmodel::NetworkProfile::Unshaped();
  options.route_shaping["list"] = netmodel::NetworkProfile::Unshaped();
  auto drawn = RunFaultProfile(faults, profile.failure_probability, seed);
  if (!drawn) return drawn.error();
  if (*drawn) options.faults.emplace(**drawn);
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
