#include "sim/network_model.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace pflab::sim {
namespace {

TEST_CASE("profiles: the bundled file has the required profiles- each number sourced", "[sim][network]") {
  auto all = LoadProfiles(DefaultProfilesPath());
  REQUIRE(all.ok());
  for (const char* name : {"gcs-regional", "gcs-cross-region", "local-fast"}) {
    INFO(name);
    REQUIRE(all->count(name) == 1);
  }
  std::ifstream in(DefaultProfilesPath());
  auto doc = nlohmann::json::parse(in);
  for (const auto& [name, p] : doc["profiles"].items()) {
    for (const auto& [field, value] : p.items()) {
      if (field == "sources") continue;
      INFO(name << "." << field);
      REQUIRE(p.contains("sources"));
      CHECK(p["sources"].contains(field));
      CHECK(p["sources"][field].get<std::string>().size() > 20);
    }
  }
  const NetworkProfile& r = all->at("gcs-regional");
  CHECK(r.latency_median_ns == 35 * kMillisecond);
  CHECK(!r.constant_latency());
  CHECK(all->at("local-fast").constant_latency());
}

TEST_CASE("profiles: unknown names list the known ones - bad files name the path", "[sim][network]") {
  auto missing = FindProfile("mars");
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("gcs-regional"));

  const auto path = std::filesystem::temp_directory_path() / "pflab_bad_profiles.json";
  {
    std::ofstream out(path);
    out << R"({"profiles": {"x": {"latency_median": "fast"}}})";
  }
  auto bad = LoadProfiles(path.string());
  REQUIRE(!bad.ok());
  CHECK_THAT(bad.error().message, Catch::StartsWith(path.string() + ": profile x: latency_median"));
  {
    std::ofstream out(path);
    out << "{not json";
  }
  auto garbage = LoadProfiles(path.string());
  REQUIRE(!garbage.ok());
  CHECK_THAT(garbage.error().message, Catch::Contains("malformed JSON"));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace pflab::sim
