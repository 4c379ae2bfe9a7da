// A program linked against pflab_policies and pflab_sim only (and what they link), proving that the
// decision logic and the simulator build and run without the HTTP client (pflab_net: cpp-httplib,
// OpenSSL). It reads a synthetic object through a policy stack over the simulated network and checks
// every delivered byte; layering_test.cc runs it and inspects what it was linked with.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/reader.h"
#include "engine/synthetic_content.h"
#include "policies/registry.h"
#include "sim/network_model.h"
#include "sim/sim_scheduler.h"
#include "sim/sim_transport.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "sim_policies_probe: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main() {
  using namespace pflab;
  auto profile = sim::FindProfile("gcs-regional", "");  // the built-in profiles
  if (!profile) return Fail(profile.error().message);
  auto spec = policies::ParseStackSpec("fsspec-readahead(blocksize=1MiB)");
  if (!spec) return Fail(spec.error().message);

  MemoryAccount account;  // outlives the scheduler, whose queued tasks may hold chunks
  sim::SimScheduler scheduler;
  sim::SimTransport transport(&scheduler, *profile, 1, sim::SimTransportOptions{.fill_payload = true});
  NullEventSink events;
  const ObjectRef object{"pflab", "probe.bin", 1, 8ull << 20};
  policies::StackEnv env;
  env.ctx = LayerContext{&scheduler, &events, 0};
  env.transport = &transport;
  env.object = object;
  env.account = &account;
  auto stack = policies::BuildStack(*spec, env);
  if (!stack) return Fail(stack.error().message);

  Reader reader(env.ctx, (*stack)->top());
  const std::uint64_t seed = ObjectSeed(object.bucket, object.name, object.generation);
  constexpr std::uint64_t kReadSize = 300000;  // not a multiple of the block size
  std::uint64_t checked = 0;
  while (checked < object.size) {
    std::optional<Result<Slices>> got;
    reader.Read(kReadSize, [&](Result<Slices>&& r) { got = std::move(r); });
    scheduler.Run();
    if (!got) return Fail("a read did not complete");
    if (!got->ok()) return Fail(got->error().message);
    const std::string bytes = CopyToString(**got);
    const std::uint64_t want = std::min(kReadSize, object.size - checked);
    if (bytes.size() != want) return Fail("read at " + std::to_string(checked) + " returned the wrong length");
    std::vector<std::byte> expected(want);
    FillSynthetic(seed, checked, expected.data(), want);
    if (std::memcmp(expected.data(), bytes.data(), want) != 0) {
      return Fail("bytes at " + std::to_string(checked) + " differ from the object's content");
    }
    checked += want;
  }
  stack->reset();
  scheduler.Run();
  std::printf("read and checked %llu bytes in %.3f simulated seconds with %llu requests\n",
              static_cast<unsigned long long>(checked), static_cast<double>(scheduler.Now()) / 1e9,
              static_cast<unsigned long long>(transport.requests()));
  return 0;
}
