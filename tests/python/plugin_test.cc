// C++ plugins: the example plugin (examples/plugin/) loaded at run time registers a policy that specs,
// parameter checks, `pflab policies`, runs and byte checks treat like a built-in one; loading errors
// name the file and the reason.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/units.h"
#include "plugins/plugin_layer.h"
#include "plugins/plugin_loader.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "tests/support/cli_runner.h"
#include "tests/support/layer_rig.h"
#include "tests/support/run_config.h"
#include "traces/trace_io.h"

namespace pflab::plugins {
namespace {

void LoadExample() {
  auto status = LoadPlugin(PFLAB_EXAMPLE_PLUGIN);
  INFO((status.ok() ? "" : status.error().message));
  REQUIRE(status.ok());
}

// One stream reading one object of `size` bytes at `reads`, back to back.
traces::Trace MakeTrace(std::uint64_t size, const std::vector<ByteRange>& reads) {
  traces::Trace t;
  t.name = "hand";
  t.objects.push_back({"o", "", "object", size});
  for (const ByteRange& r : reads) t.records.push_back({0, 0, 0, r.begin, r.size(), -1});
  return t;
}

// The hand-worked sequence of examples/plugin/example_readahead.cc with initial=1MiB, max=4MiB.
const std::vector<ByteRange> kReads = {
    {0, kMiB},
    {kMiB, 2 * kMiB},
    {2 * kMiB, 3 * kMiB},
    {3 * kMiB, 4 * kMiB},
    {4 * kMiB, 5 * kMiB},
    {5 * kMiB, 6 * kMiB},
    {6 * kMiB, 7 * kMiB},
    {7 * kMiB, 8 * kMiB},
    {20 * kMiB, 21 * kMiB},
    {20 * kMiB + kMiB / 2, 21 * kMiB + kMiB / 2},
};
const std::vector<ByteRange> kRequests = {
    {0, kMiB},
    {kMiB, 3 * kMiB},
    {3 * kMiB, 7 * kMiB},
    {7 * kMiB, 11 * kMiB},
    {20 * kMiB, 21 * kMiB},
    {21 * kMiB, 23 * kMiB},
};

TEST_CASE("a plugin's policy is registered like a built-in one", "[plugin]") {
  LoadExample();
  REQUIRE(LoadPlugin(PFLAB_EXAMPLE_PLUGIN).ok());  // loading again does nothing
  const policies::PolicyEntry* entry = policies::FindPolicy("example-readahead");
  REQUIRE(entry != nullptr);
  CHECK_THAT(entry->origin, Catch::Contains("examples/plugin/example_readahead.cc"));
  CHECK_THAT(entry->origin, Catch::Contains("[plugin "));
  REQUIRE(entry->params.size() == 2);
  CHECK(entry->params[0].name == "initial");
  CHECK(entry->params[0].ShownDefault() == "128KiB");
  CHECK(entry->params[1].ShownDefault() == "8MiB");
  bool listed = false;
  for (const auto* p : policies::AllPolicies()) listed |= p == entry;
  CHECK(listed);

  auto spec = policies::ParseStackSpec("example-readahead(initial=1048576)");
  REQUIRE(spec.ok());
  auto canonical = policies::CanonicalSpec(*spec);
  REQUIRE(canonical.ok());
  CHECK(*canonical == "example-readahead(initial=1MiB,max=8MiB) > concurrent(parts=1,min=5MiB,rule=main)");

  auto unknown = policies::ParsePolicyList("example-readahead(ahead=1MiB)");
  REQUIRE(!unknown.ok());
  CHECK_THAT(unknown.error().message, Catch::Contains("no parameter 'ahead'"));
  CHECK_THAT(unknown.error().message, Catch::Contains("initial, max"));
  auto zero = policies::ParsePolicyList("example-readahead(initial=0)");
  REQUIRE(!zero.ok());
  CHECK_THAT(zero.error().message, Catch::Contains("initial must be positive"));
  auto bad = policies::ParsePolicyList("example-readahead(max=lots)");
  REQUIRE(!bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("max=lots"));
  auto rule = policies::ParsePolicyList("example-readahead(initial=4MiB,max=1MiB)");
  REQUIRE(!rule.ok());
  CHECK_THAT(rule.error().message, Catch::Contains("max must be at least initial"));
}

TEST_CASE("a plugin's layer makes the requests worked out by hand", "[plugin]") {
  LoadExample();
  testing::LayerRig rig("example-readahead(initial=1MiB,max=4MiB)", 64 * kMiB, kMillisecond);
  for (const ByteRange& r : kReads) {
    auto got = rig.Read(r.begin, r.end);
    REQUIRE(got.ok());
    CHECK(TotalLength(*got) == r.size());
  }
  std::vector<ByteRange> requests;
  for (const auto& r : rig.lower.requests) requests.push_back({r.begin, r.end});
  CHECK(requests == kRequests);
  // The plugin holds one handle: its window.
  CHECK(dynamic_cast<PluginLayer&>(*rig.layer).data_handles() == 1);
}

TEST_CASE("a plugin's runs check every byte and count what was fetched and wasted", "[plugin]") {
  LoadExample();
  const traces::Trace trace = MakeTrace(64 * kMiB, kReads);
  auto config = testing::RunConfig(trace, "example-readahead(initial=1MiB,max=4MiB)");
  config.think = replay::ThinkTime{replay::ThinkTime::Mode::kZero, 1.0};
  auto result = replay::RunSimulation(config);  // verify_bytes: every delivered byte is compared
  INFO((result.ok() ? "" : result.error().message));
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 0);
  CHECK(result->metrics.requests == kRequests.size());
  CHECK(result->metrics.bytes_fetched == 14 * kMiB);
  // Delivered: 0..8 MiB and 20..21.5 MiB; never: 8..11 MiB and 21.5..23 MiB.
  CHECK(result->metrics.bytes_wasted == 4 * kMiB + kMiB / 2);
}

TEST_CASE("loading what is not a usable plugin fails, saying why", "[plugin]") {
  auto missing = LoadPlugin("/nonexistent/libnothing.so");
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("/nonexistent/libnothing.so: no such plugin file"));

  auto other = LoadPlugin("/lib/x86_64-linux-gnu/libz.so.1");
  REQUIRE(!other.ok());
  CHECK_THAT(other.error().message, Catch::Contains("not a pflab plugin"));

  auto version = LoadPlugin(PFLAB_BAD_VERSION_PLUGIN);
  REQUIRE(!version.ok());
  CHECK_THAT(version.error().message,
             Catch::Contains("built against plugin API version " + std::to_string(plugin::kApiVersion + 1)));
  CHECK_THAT(version.error().message,
             Catch::Contains("this pflab speaks version " + std::to_string(plugin::kApiVersion)));
}

TEST_CASE("the --plugin option adds a plugin's policies to policies, compare and sweep", "[plugin][cli]") {
  const auto dir = testing::FreshTempDir("pflab_plugin_cli");
  const std::string plugin = std::string("--plugin ") + PFLAB_EXAMPLE_PLUGIN;

  auto listed = testing::RunPflab("policies " + plugin, dir);
  INFO(listed.err);
  REQUIRE(listed.exit_code == 0);
  CHECK_THAT(listed.out, Catch::Contains("example-readahead\n"));
  CHECK_THAT(listed.out, Catch::Contains("initial (default 128KiB): first window"));
  CHECK_THAT(listed.out, Catch::Contains("py:FILE.py:CLASS(key=value,...)"));
  auto plain = testing::RunPflab("policies", dir);
  CHECK_THAT(plain.out, !Catch::Contains("example-readahead"));

  REQUIRE(traces::WriteTrace((dir / "t.jsonl").string(), MakeTrace(64 * kMiB, kReads)).ok());
  const std::string policies = "--policies 'example-readahead(initial=1MiB,max=4MiB),fsspec-readahead'";
  auto compared = testing::RunPflab("compare " + (dir / "t.jsonl").string() + " " + plugin + " " + policies +
                                        " --verify-bytes -q --json " + (dir / "r.json").string(),
                                    dir);
  INFO(compared.err);
  REQUIRE(compared.exit_code == 0);
  CHECK_THAT(compared.out, Catch::Contains("example-readahead(initial=1MiB,max=4MiB)"));

  auto swept = testing::RunPflab("sweep --traces " + (dir / "t.jsonl").string() + " " + plugin +
                                     " --policy 'example-readahead(initial=1MiB|2MiB,max=4MiB)' -q -o " +
                                     (dir / "s.jsonl").string(),
                                 dir);
  INFO(swept.err);
  REQUIRE(swept.exit_code == 0);
  CHECK_THAT(testing::Slurp(dir / "s.jsonl"), Catch::Contains("example-readahead(initial=2MiB,max=4MiB)"));

  auto without = testing::RunPflab("compare " + (dir / "t.jsonl").string() + " " + policies + " -q", dir);
  CHECK(without.exit_code != 0);
  CHECK_THAT(without.err, Catch::Contains("unknown policy 'example-readahead'"));

  auto bad = testing::RunPflab("compare " + (dir / "t.jsonl").string() + " --plugin /nonexistent.so " + policies, dir);
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains("--plugin /nonexistent.so: no such plugin file"));
}

}  // namespace
}  // namespace pflab::plugins
