#include "policies/registry.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "engine/units.h"

namespace pflab::policies {
namespace {

TEST_CASE("stack specs parse into layers- top first", "[policies][registry]") {
  auto spec = ParseStackSpec(" fsspec-readahead(blocksize=5MiB) > gcsfs-v795 > concurrent(parts=4, rule=v795) ");
  REQUIRE(spec.ok());
  CHECK(spec->text == "fsspec-readahead(blocksize=5MiB) > gcsfs-v795 > concurrent(parts=4, rule=v795)");
  REQUIRE(spec->layers.size() == 3);
  CHECK(spec->layers[0].name == "fsspec-readahead");
  CHECK(spec->layers[0].params.at("blocksize") == "5MiB");
  CHECK(spec->layers[1].name == "gcsfs-v795");
  CHECK(spec->layers[1].params.empty());
  CHECK(spec->layers[2].params.at("parts") == "4");
  CHECK(spec->layers[2].params.at("rule") == "v795");
  CHECK(ValidateStack(*spec).ok());
}

TEST_CASE("policy lists split on commas outside parentheses", "[policies][registry]") {
  auto list = ParsePolicyList("none,concurrent(parts=4,min=1MiB),fsspec-readahead(blocksize=1MiB) > none");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 3);
  CHECK((*list)[1].text == "concurrent(parts=4,min=1MiB)");
  CHECK((*list)[2].layers.size() == 2);
}

TEST_CASE("bad specs are rejected with what exists", "[policies][registry]") {
  auto unknown = ParsePolicyList("none,fsspec-readahed");
  REQUIRE(!unknown.ok());
  CHECK_THAT(unknown.error().message, Catch::Contains("unknown policy 'fsspec-readahed'"));
  CHECK_THAT(unknown.error().message, Catch::Contains("fsspec-readahead"));
  CHECK_THAT(unknown.error().message, Catch::Contains("gcsfs-adaptive"));

  auto bad_param = ParsePolicyList("fsspec-readahead(block=5MiB)");
  REQUIRE(!bad_param.ok());
  CHECK_THAT(bad_param.error().message, Catch::Contains("no parameter 'block'"));
  CHECK_THAT(bad_param.error().message, Catch::Contains("blocksize"));

  auto bad_value = ParsePolicyList("fsspec-readahead(blocksize=5XB)");
  REQUIRE(!bad_value.ok());
  CHECK_THAT(bad_value.error().message, Catch::Contains("blocksize=5XB"));

  auto bad_choice = ParsePolicyList("concurrent(rule=fast)");
  REQUIRE(!bad_choice.ok());
  CHECK_THAT(bad_choice.error().message, Catch::Contains("v795|main"));

  CHECK(!ParsePolicyList("concurrent > none").ok());                // concurrent must be last
  CHECK(!ParsePolicyList("fsspec-readahead(blocksize=1MiB").ok());  // unbalanced
  CHECK(!ParsePolicyList("none(x)").ok());                          // not key=value
  CHECK(!ParsePolicyList("concurrent(parts=1,parts=2)").ok());      // duplicate
  CHECK(!ParsePolicyList("none,").ok());                            // empty element
}

TEST_CASE("every registered policy validates with its defaults", "[policies][registry]") {
  for (const auto& info : RegisteredPolicies()) {
    auto spec = ParseStackSpec(info.name);
    REQUIRE(spec.ok());
    INFO(info.name);
    CHECK(ValidateStack(*spec).ok());
    CHECK(!info.origin.empty());
  }
}

TEST_CASE("every entry's shown defaults are its Options' defaults", "[policies][registry]") {
  for (const PolicyEntry& entry : RegisteredPolicies()) {
    INFO(entry.name);
    CHECK(FindPolicy(entry.name) == &entry);
    // What a layer gets when the spec leaves every parameter out: the defaults, after the entry's check.
    auto parsed = entry.Parse({});
    REQUIRE(parsed.ok());
    CHECK(entry.same(*parsed, entry.defaults()));
    for (const ParamDescriptor& param : entry.params) {
      INFO(param.name);
      CHECK(param.print(*parsed) == param.default_value);
      CHECK(!param.description.empty());
    }
  }
  // The defaults as `pflab policies` showed them when they were written out by hand; now each comes from
  // the policy's Options struct (or its Defaults function).
  const std::map<std::string, std::string> shown = {
      {"none", "none"},
      {"fsspec-readahead", "fsspec-readahead(blocksize=5MiB)"},
      {"fsspec-blockcache", "fsspec-blockcache(blocksize=5MiB,maxblocks=32)"},
      {"fsspec-mmap", "fsspec-mmap(blocksize=5MiB)"},
      {"fsspec-bytes", "fsspec-bytes(blocksize=5MiB)"},
      {"fsspec-first", "fsspec-first(blocksize=5MiB)"},
      {"fsspec-all", "fsspec-all"},
      {"fsspec-parts", "fsspec-parts(parts=)"},
      {"fsspec-background", "fsspec-background(blocksize=5MiB,maxblocks=32)"},
      {"gcsfs-v795", "gcsfs-v795(concurrency=1,max=256MiB,streak=2,min_chunk=5MiB)"},
      {"gcsfs-adaptive", "gcsfs-adaptive(concurrency=4,max=256MiB,streak=3,min_chunk=5MiB)"},
      {"linux-readahead", "linux-readahead(read_ahead=128KiB,io=128KiB,fuse_max=128KiB,cache=1GiB)"},
      {"mountpoint-s3",
       "mountpoint-s3(initial=1152KiB,part_size=8MiB,max_window=2GiB,multiplier=2,forward_seek=16MiB,"
       "backward_seek=1MiB,max_parts=100)"},
      {"gcsfuse", "gcsfuse(sequential_read_size=200MiB,max_read_size=8MiB,min_read_size=1MiB,fuse_max=1MiB)"},
      {"gcsfuse-buffered",
       "gcsfuse-buffered(block_size=16MiB,max_blocks=20,start_blocks=1,min_blocks=4,global_max_blocks=40,"
       "random_seek_threshold=3,workers=44,sequential_read_size=200MiB,max_read_size=8MiB,min_read_size=1MiB,"
       "fuse_max=1MiB)"},
      {"gcsfs-concurrent", "gcsfs-concurrent(concurrency=4,rule=main)"},
      {"arrow-coalesce", "arrow-coalesce(hole_size_limit=8KiB,range_size_limit=32MiB,lazy=true,prefetch_limit=0)"},
      {"oracle", "oracle(memory=auto,request=auto,gap=auto,concurrency=auto)"},
      {"concurrent", "concurrent(parts=1,min=5MiB,rule=main)"},
  };
  for (const auto& [name, expected] : shown) {
    const PolicyEntry* entry = FindPolicy(name);
    REQUIRE(entry != nullptr);
    CHECK(entry->Format(entry->defaults()) == expected);
  }
  const PolicyEntry* concurrent = FindPolicy("concurrent");
  REQUIRE(concurrent != nullptr);
  CHECK(concurrent->params[0].ShownDefault() == "1 (or the gcsfs layer's concurrency)");
  CHECK(concurrent->params[2].ShownDefault() == "main (v795 under gcsfs-v795)");
  CHECK(FindPolicy("fsspec-parts")->params[0].ShownDefault() == "(none)");
}

// A value other than the default for each parameter, written as a spec writes it.
std::string OtherValue(const PolicyEntry& entry, const ParamDescriptor& param) {
  switch (param.kind) {
    case ParamKind::kSize: {
      const std::uint64_t d = *ParseSize(param.default_value);
      return FormatSizeExact(d == 0 ? 4 * kKiB : 2 * d);
    }
    case ParamKind::kUint: {
      const std::uint64_t d = std::stoull(param.default_value);
      return std::to_string(d == 0 ? 1 : 2 * d);
    }
    case ParamKind::kBool: return param.default_value == "true" ? "false" : "true";
    case ParamKind::kChoice:
      for (const std::string& word : param.choices) {
        if (word != param.default_value) return word;
      }
      break;
    case ParamKind::kText:
      if (entry.name == "fsspec-parts") return "0-1MiB;2MiB-3MiB";
      if (entry.name == "oracle") return param.name == "concurrency" ? "3" : "8MiB";  // each defaults to auto
      break;
  }
  FAIL("no other value for " << param.name);
  return "";
}

TEST_CASE("every parameter parses its printed default and another value back to the same Options",
          "[policies][registry]") {
  for (const PolicyEntry& entry : RegisteredPolicies()) {
    for (const ParamDescriptor& param : entry.params) {
      INFO(entry.name << " " << param.name);
      auto same = entry.Parse({{param.name, param.default_value}});
      REQUIRE(same.ok());
      CHECK(entry.same(*same, entry.defaults()));

      const std::string other = OtherValue(entry, param);
      INFO("other value " << other);
      auto changed = entry.Parse({{param.name, other}});
      REQUIRE(changed.ok());
      CHECK(!entry.same(*changed, entry.defaults()));
      CHECK(param.print(*changed) == other);
      // Written out whole and parsed again: the same Options.
      auto spec = ParseStackSpec(entry.Format(*changed));
      REQUIRE(spec.ok());
      REQUIRE(spec->layers.size() == 1);
      auto again = entry.Parse(spec->layers[0].params);
      REQUIRE(again.ok());
      CHECK(entry.same(*again, *changed));
    }
  }
}

TEST_CASE("a spec round-trips through its canonical form", "[policies][registry]") {
  for (const char* text : {"fsspec-readahead(blocksize=1MiB) > gcsfs-v795(concurrency=4,streak=5) > "
                           "concurrent(parts=2,min=1MiB,rule=v795)",
                           "fsspec-blockcache(maxblocks=4) > mountpoint-s3(initial=0)", "oracle(gap=0)",
                           "fsspec-parts(parts=0-1MiB;5MiB-6MiB) > gcsfuse-buffered(fuse_max=128KiB)",
                           "arrow-coalesce(lazy=false)", "none"}) {
    INFO(text);
    auto spec = ParseStackSpec(text);
    REQUIRE(spec.ok());
    auto canonical = CanonicalSpec(*spec);
    REQUIRE(canonical.ok());
    auto reparsed = ParseStackSpec(*canonical);
    REQUIRE(reparsed.ok());
    CHECK(CanonicalSpec(*reparsed).value() == *canonical);
  }
  auto spec = ParseStackSpec("fsspec-readahead(blocksize=1MiB) > gcsfs-v795(concurrency=4)");
  REQUIRE(spec.ok());
  CHECK(CanonicalSpec(*spec).value() ==
        "fsspec-readahead(blocksize=1MiB) > gcsfs-v795(concurrency=4,max=256MiB,streak=2,min_chunk=5MiB) > "
        "concurrent(parts=4,min=5MiB,rule=v795)");
}

TEST_CASE("the appended fetcher takes the gcsfs layers' concurrency and split rule", "[policies][registry]") {
  auto bottom = [](const char* text) {
    auto spec = ParseStackSpec(text);
    REQUIRE(spec.ok());
    auto canonical = CanonicalSpec(*spec);
    REQUIRE(canonical.ok());
    return canonical->substr(canonical->rfind(" > ") + 3);
  };
  CHECK(bottom("fsspec-readahead") == "concurrent(parts=1,min=5MiB,rule=main)");
  CHECK(bottom("gcsfs-v795") == "concurrent(parts=1,min=5MiB,rule=v795)");
  CHECK(bottom("gcsfs-adaptive") == "concurrent(parts=4,min=5MiB,rule=main)");
  CHECK(bottom("fsspec-bytes > gcsfs-adaptive(concurrency=7)") == "concurrent(parts=7,min=5MiB,rule=main)");
  CHECK(bottom("gcsfs-concurrent(concurrency=3,rule=v795)") == "concurrent(parts=3,min=5MiB,rule=v795)");
  // A fetcher the spec names keeps what the spec says.
  CHECK(bottom("gcsfs-v795 > concurrent(parts=2)") == "concurrent(parts=2,min=5MiB,rule=main)");
}

TEST_CASE("placement errors name the layer and the rule", "[policies][registry]") {
  auto error = [](const std::string& text) {
    auto spec = ParseStackSpec(text);
    REQUIRE(spec.ok());
    auto status = ValidateStack(*spec);
    REQUIRE(!status.ok());
    return status.error().message;
  };
  CHECK(error("concurrent > none") == "in 'concurrent > none': concurrent is the bottom layer and must come last");
  CHECK(error("fsspec-readahead > oracle") ==
        "in 'fsspec-readahead > oracle': oracle stands alone (only concurrent may follow it)");
  CHECK(error("linux-readahead > gcsfs-v795") ==
        "in 'linux-readahead > gcsfs-v795': linux-readahead must sit directly on the fetcher (last, or just "
        "above concurrent)");
  // The rules come from each entry's placement.
  auto ok = [](const std::string& text) { return ValidateStack(*ParseStackSpec(text)).ok(); };
  int on_fetcher = 0;
  for (const PolicyEntry& entry : RegisteredPolicies()) {
    INFO(entry.name);
    switch (entry.placement) {
      case Placement::kAnywhere: CHECK(ok("none > " + entry.name + " > none")); break;
      case Placement::kOnFetcher:
        ++on_fetcher;
        CHECK(ok("none > " + entry.name));
        CHECK(ok("none > " + entry.name + " > concurrent"));
        CHECK_THAT(error(entry.name + " > none"), Catch::Contains(entry.name + " must sit directly on the fetcher"));
        break;
      case Placement::kAlone:
        CHECK(ok(entry.name + " > concurrent"));
        CHECK_THAT(error("none > " + entry.name), Catch::Contains(entry.name + " stands alone"));
        CHECK_THAT(error(entry.name + " > none"), Catch::Contains(entry.name + " stands alone"));
        break;
      case Placement::kBottom:
        CHECK(ok("none > " + entry.name));
        CHECK_THAT(error(entry.name + " > none"), Catch::Contains(entry.name + " is the bottom layer"));
        break;
    }
  }
  CHECK(on_fetcher > 0);
  for (const char* name :
       {"linux-readahead", "mountpoint-s3", "gcsfuse-buffered", "arrow-coalesce", "fsspec-background"}) {
    CHECK(FindPolicy(name)->placement == Placement::kOnFetcher);
  }
  CHECK(FindPolicy("oracle")->placement == Placement::kAlone);
}

TEST_CASE("parameter values are checked against their bounds and types", "[policies][registry]") {
  auto error = [](const std::string& text) {
    auto list = ParsePolicyList(text);
    REQUIRE(!list.ok());
    return list.error().message;
  };
  CHECK(error("gcsfs-adaptive(concurrency=0)") == "policy gcsfs-adaptive: concurrency must be 1..1024, not 0");
  CHECK(error("gcsfs-v795(streak=1001)") == "policy gcsfs-v795: streak must be 1..1000, not 1001");
  CHECK(error("fsspec-mmap(blocksize=0)") == "policy fsspec-mmap: blocksize must be positive, not 0");
  CHECK(error("gcsfuse-buffered(block_size=512KiB)") ==
        "policy gcsfuse-buffered: block_size must be at least 1MiB, not 512KiB");
  // A 32-bit field: no silent wrap.
  CHECK(error("mountpoint-s3(multiplier=4294967296)") ==
        "policy mountpoint-s3: multiplier must be at most 4294967295, not 4294967296");
  CHECK(error("fsspec-blockcache(maxblocks=-1)") ==
        "policy fsspec-blockcache: parameter maxblocks=-1: expected a non-negative integer");
  CHECK(error("arrow-coalesce(lazy=maybe)") == "policy arrow-coalesce: parameter lazy=maybe: expected true or false");
  CHECK(error("fsspec-all(blocksize=1MiB)") == "policy fsspec-all has no parameter 'blocksize' (it takes: none)");
  CHECK(error("fsspec-blockcache(blocks=2)") ==
        "policy fsspec-blockcache has no parameter 'blocks' (it takes: blocksize, maxblocks)");
  // Checks across parameters run after all are read; a check may also normalise.
  CHECK(error("gcsfuse(min_read_size=16MiB)") == "gcsfuse: need 0 < min_read_size <= max_read_size");
  auto raised = CanonicalSpec(*ParseStackSpec("mountpoint-s3(multiplier=1)"));
  REQUIRE(raised.ok());
  CHECK_THAT(*raised, Catch::Contains("multiplier=2,"));
}

}  // namespace
}  // namespace pflab::policies
