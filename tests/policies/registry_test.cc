#include "policies/registry.h"

#include <catch2/catch.hpp>

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

}  // namespace
}  // namespace pflab::policies
