#include "netmodel/network_profile.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace pflab::netmodel {
namespace {

// A profiles file in the temp directory, removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& text)
      : path_((std::filesystem::temp_directory_path() / name).string()) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr const char* kGoodProfile =
    R"("latency_median": "10ms", "stream_bandwidth": "100MB/s", "link_bandwidth": "1GB/s",
       "max_connections": 8, "usd_per_request": 1e-6, "usd_per_gib": 0.5)";

std::string ProfilesWith(const std::string& x_fields) {
  return std::string(R"({"profiles": {"ok": {)") + kGoodProfile + R"(}, "x": {)" + x_fields + "}}}";
}

TEST_CASE("profiles: the bundled file loads and has the required profiles", "[sim][network]") {
  auto all = LoadProfiles(DefaultProfilesPath());
  REQUIRE(all.ok());
  for (const char* name : {"gcs-regional", "gcs-cross-region", "local-fast"}) {
    INFO(name);
    CHECK(all->count(name) == 1);
  }
  const NetworkProfile& r = all->at("gcs-regional");
  CHECK(r.latency_median_ns == 35 * kMillisecond);
  CHECK(r.latency_p99_ns == 200 * kMillisecond);
  CHECK(!r.constant_latency());
  CHECK(r.stream_bandwidth_bytes_per_s == 220e6);
  CHECK(r.usd_per_request == 4e-7);  // $0.0004 per 1,000 class B operations
  CHECK(r.usd_per_gib == 0);
  CHECK(r.failure_probability == 0);
  CHECK(all->at("gcs-cross-region").usd_per_gib == 0.02);
  CHECK(all->at("local-fast").constant_latency());
}

TEST_CASE("profiles: the built-in profiles are sim/profiles/profiles.json, byte for byte", "[sim][network]") {
  std::ifstream in(std::string(PFLAB_SOURCE_DIR) + "/sim/profiles/profiles.json", std::ios::binary);
  REQUIRE(in);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(BuiltInProfilesText() == file);
  auto text = ReadProfilesText("");
  REQUIRE(text.ok());
  CHECK(*text == file);
}

TEST_CASE("profiles: --profiles FILE, then $PFLAB_PROFILES, then the built-in profiles", "[sim][network]") {
  TempFile file("pflab_flag_profiles.json", ProfilesWith(kGoodProfile));
  ::unsetenv("PFLAB_PROFILES");
  CHECK(ProfilesPath("") == "");
  CHECK(ProfilesPath(file.path()) == file.path());
  ::setenv("PFLAB_PROFILES", "/from/env.json", 1);
  CHECK(ProfilesPath("") == "/from/env.json");
  CHECK(ProfilesPath(file.path()) == file.path());
  ::unsetenv("PFLAB_PROFILES");
  // The flag's file is the one read: it has "ok" and not the built-in names.
  CHECK(FindProfile("ok", ProfilesPath(file.path())).ok());
  CHECK_FALSE(FindProfile("gcs-regional", ProfilesPath(file.path())).ok());
  CHECK(FindProfile("gcs-regional", ProfilesPath("")).ok());
  // Errors in the built-in text would name it, not a path.
  auto bad = ParseProfiles("{not json", kBuiltInProfilesName);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::StartsWith(std::string(kBuiltInProfilesName) + ": malformed JSON"));
}

TEST_CASE("profiles: every number of every bundled profile cites a source and says what kind", "[sim][network]") {
  const auto doc = nlohmann::json::parse(BuiltInProfilesText());
  REQUIRE(doc.at("profiles").size() >= 3);
  for (const auto& [name, p] : doc.at("profiles").items()) {
    REQUIRE(p.contains("sources"));
    for (const auto& [field, value] : p.items()) {
      if (field == "sources" || field == "description") continue;
      INFO(name << "." << field);
      REQUIRE(p["sources"].contains(field));
      const std::string source = p["sources"][field].get<std::string>();
      CHECK(source.size() > 20);
      // Honesty about provenance: each source says whether it is documentation, derived from
      // measurements, or assumed.
      const bool labelled = source.find("documentation") != std::string::npos ||
                            source.find("derived") != std::string::npos ||
                            source.find("assumption") != std::string::npos || source.find("no cost") == 0;
      CHECK(labelled);
    }
    for (const auto& [field, value] : p["sources"].items()) {
      INFO(name << ".sources." << field << " names a field the profile does not have");
      CHECK(p.contains(field));
    }
  }
}

TEST_CASE("profiles: an unknown name lists every known one", "[sim][network]") {
  auto missing = FindProfile("mars");
  REQUIRE(!missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message, Catch::Contains("'mars'"));
  auto all = LoadProfiles(DefaultProfilesPath());
  REQUIRE(all.ok());
  for (const auto& [name, profile] : *all) CHECK_THAT(missing.error().message, Catch::Contains(name));
}

TEST_CASE("profiles: PFLAB_PROFILES names another file", "[sim][network]") {
  TempFile file("pflab_env_profiles.json", ProfilesWith(kGoodProfile));
  ::setenv("PFLAB_PROFILES", file.path().c_str(), 1);
  CHECK(DefaultProfilesPath() == file.path());
  auto p = FindProfile("ok");
  ::unsetenv("PFLAB_PROFILES");
  REQUIRE(p.ok());
  CHECK(p->latency_median_ns == 10 * kMillisecond);
  CHECK(p->constant_latency());
  CHECK(p->stream_bandwidth_bytes_per_s == 100e6);
  CHECK(p->link_bandwidth_bytes_per_s == 1e9);
  CHECK(p->max_connections == 8);
  CHECK(p->usd_per_gib == 0.5);
  CHECK(DefaultProfilesPath() != file.path());
}

TEST_CASE("profiles: bad files give errors that start with the path and say what is wrong", "[sim][network]") {
  struct Case {
    std::string text;
    std::string expected;  // after "PATH: "
  };
  const std::vector<Case> cases = {
      {"{not json", "malformed JSON"},
      {R"({"nothing": 1})", "expected {\"profiles\""},
      {ProfilesWith(R"("latency_median": "fast")"), "profile x: latency_median"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "latency_p99": "5ms")"), "profile x: latency_p99: is below"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "latency_p9": "50ms")"), "profile x: latency_p9: unknown field"},
      // Fields as results print a profile, copied into a file: named as the file writes them.
      {ProfilesWith(std::string(kGoodProfile) + R"(, "latency_min_ms": 5.0)"),
       "profile x: latency_min_ms: unknown field: a profiles file writes latency_min with its unit, e.g. "
       "\"latency_min\": \"35ms\""},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "host_bandwidth_bytes_per_s": 1e9)"),
       "profile x: host_bandwidth_bytes_per_s: unknown field: a profiles file writes host_bandwidth"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "read_overhead_ms_per_mib": 0.3)"),
       "profile x: read_overhead_ms_per_mib: unknown field: a profiles file writes read_overhead_per_mib"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "stream_window_bytes": 6291456)"),
       "profile x: stream_window_bytes: unknown field: a profiles file writes stream_window"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "latency_distribution": "lognormal")"),
       "profile x: latency_distribution: unknown field: a profiles file's latencies are lognormal unless"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "request_overhead": "0.4")"),
       "profile x: request_overhead: '0.4' needs a unit"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "request_overhead_cores": 1.5)"),
       "profile x: request_overhead_cores: expected an integer from 0 (no limit) to 4096"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "stream_overhead": 1)"),
       "profile x: stream_overhead: expected a string such as \"35ms\""},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "read_overhead_per_mib": "0.3")"),
       "profile x: read_overhead_per_mib: '0.3' needs a unit"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "host_bandwidth": "0MB/s")"),
       "profile x: host_bandwidth: must be positive"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "host_bandwidth": 800)"),
       "profile x: host_bandwidth: expected a string such as \"220MB/s\""},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "request_overhead": "3601s")"),
       "profile x: request_overhead: is longer than an hour"},
      {ProfilesWith(R"("latency_median": "7200s", "stream_bandwidth": "1MB/s", "link_bandwidth": "1GB/s")"),
       "profile x: latency_median: is longer than an hour"},
      {ProfilesWith(std::string(kGoodProfile) + R"(, "failure_probability": 2)"),
       "profile x: failure_probability: must be at most 1"},
      {ProfilesWith(R"("latency_median": "10ms", "stream_bandwidth": "100MB/s")"),
       "profile x: link_bandwidth: missing"},
      {ProfilesWith(R"("latency_median": "10ms", "stream_bandwidth": "0MB/s", "link_bandwidth": "1GB/s")"),
       "profile x: stream_bandwidth: must be positive"},
      {ProfilesWith(R"("latency_median": "10ms", "stream_bandwidth": "1MB/s", "link_bandwidth": "1GB/s",
                       "max_connections": 0)"),
       "profile x: max_connections: expected an integer from 1 to 1000000"},
      {ProfilesWith(R"("latency_median": "10ms", "stream_bandwidth": "1MB/s", "link_bandwidth": "1GB/s",
                       "max_connections": 4294967296)"),
       "profile x: max_connections: expected an integer from 1 to 1000000"},
      {ProfilesWith(R"("latency_median": "10ms", "stream_bandwidth": "1MB/s", "link_bandwidth": "1GB/s",
                       "max_connections": 1, "usd_per_request": -1)"),
       "profile x: usd_per_request: expected a non-negative number"},
  };
  for (const auto& c : cases) {
    TempFile file("pflab_bad_profiles.json", c.text);
    INFO(c.text);
    auto bad = LoadProfiles(file.path());
    REQUIRE(!bad.ok());
    CHECK_THAT(bad.error().message, Catch::StartsWith(file.path() + ": " + c.expected));
    // FindProfile reports the file's problem, not an unknown name.
    auto found = FindProfile("ok", file.path());
    REQUIRE(!found.ok());
    CHECK_THAT(found.error().message, Catch::StartsWith(file.path() + ": "));
  }
  auto missing = LoadProfiles("/nonexistent/profiles.json");
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message, Catch::StartsWith("/nonexistent/profiles.json: "));
}

TEST_CASE("profiles: failure_probability is optional and parsed", "[sim][network]") {
  TempFile file("pflab_flaky_profiles.json",
                ProfilesWith(std::string(kGoodProfile) + R"(, "failure_probability": 0.25)"));
  auto all = LoadProfiles(file.path());
  REQUIRE(all.ok());
  CHECK(all->at("ok").failure_probability == 0);
  CHECK(all->at("x").failure_probability == 0.25);
}

TEST_CASE("profiles: request_overhead and its cores are optional, 0 when left out", "[sim][network]") {
  TempFile file(
      "pflab_overhead_profiles.json",
      ProfilesWith(std::string(kGoodProfile) + R"(, "request_overhead": "450us", "request_overhead_cores": 2)"));
  auto all = LoadProfiles(file.path());
  REQUIRE(all.ok());
  CHECK(all->at("ok").request_overhead_ns == 0);
  CHECK(all->at("ok").request_overhead_cores == 0);
  CHECK(all->at("x").request_overhead_ns == 450 * kMicrosecond);
  CHECK(all->at("x").request_overhead_cores == 2);
  // Results JSON carries them only when set, so a run without them is reported as before.
  CHECK_FALSE(all->at("ok").ToJson().contains("request_overhead_ms"));
  CHECK_FALSE(all->at("ok").ToJson().contains("request_overhead_cores"));
  CHECK(all->at("x").ToJson().at("request_overhead_ms") == 0.45);
  CHECK(all->at("x").ToJson().at("request_overhead_cores") == 2);
}

TEST_CASE("profiles: stream_overhead, connect_overhead and read_overhead_per_mib are optional, 0 when left out",
          "[sim][network]") {
  TempFile file(
      "pflab_stream_overhead_profiles.json",
      ProfilesWith(std::string(kGoodProfile) +
                   R"(, "stream_overhead": "600us", "read_overhead_per_mib": "0.25ms", "connect_overhead": "2ms")"));
  auto all = LoadProfiles(file.path());
  REQUIRE(all.ok());
  CHECK(all->at("ok").connect_overhead_ns == 0);
  CHECK(all->at("x").connect_overhead_ns == 2 * kMillisecond);
  CHECK_FALSE(all->at("ok").ToJson().contains("connect_overhead_ms"));
  CHECK(all->at("x").ToJson().at("connect_overhead_ms") == 2.0);
  CHECK(all->at("ok").stream_overhead_ns == 0);
  CHECK(all->at("ok").read_overhead_ns_per_mib == 0);
  CHECK(all->at("x").stream_overhead_ns == 600 * kMicrosecond);
  CHECK(all->at("x").read_overhead_ns_per_mib == 250 * kMicrosecond);
  CHECK_FALSE(all->at("ok").ToJson().contains("stream_overhead_ms"));
  CHECK_FALSE(all->at("ok").ToJson().contains("read_overhead_ms_per_mib"));
  CHECK(all->at("x").ToJson().at("stream_overhead_ms") == 0.6);
  CHECK(all->at("x").ToJson().at("read_overhead_ms_per_mib") == 0.25);
}

TEST_CASE("profiles: host_bandwidth is optional, no limit when left out", "[sim][network]") {
  TempFile file("pflab_host_bandwidth_profiles.json",
                ProfilesWith(std::string(kGoodProfile) + R"(, "host_bandwidth": "800MB/s")"));
  auto all = LoadProfiles(file.path());
  REQUIRE(all.ok());
  CHECK(all->at("ok").host_bandwidth_bytes_per_s == 0);
  CHECK(all->at("ok").shared_bandwidth_bytes_per_s() == all->at("ok").link_bandwidth_bytes_per_s);
  CHECK(all->at("x").host_bandwidth_bytes_per_s == 800e6);
  CHECK(all->at("x").shared_bandwidth_bytes_per_s() == std::min(800e6, all->at("x").link_bandwidth_bytes_per_s));
  CHECK_FALSE(all->at("ok").ToJson().contains("host_bandwidth_bytes_per_s"));
  CHECK(all->at("x").ToJson().at("host_bandwidth_bytes_per_s") == 800e6);
}

TEST_CASE("profiles: ToJson reports the effective profile", "[sim][network]") {
  NetworkProfile p;
  p.latency_median_ns = 35 * kMillisecond;
  p.latency_p99_ns = 200 * kMillisecond;
  p.failure_probability = 0.01;
  const auto j = p.ToJson();
  CHECK(j.at("latency_distribution") == "lognormal");
  CHECK(j.at("latency_median_ms") == 35.0);
  CHECK(j.at("latency_p99_ms") == 200.0);
  CHECK(j.at("stream_bandwidth_bytes_per_s") == p.stream_bandwidth_bytes_per_s);
  CHECK(j.at("link_bandwidth_bytes_per_s") == p.link_bandwidth_bytes_per_s);
  CHECK(j.at("max_connections") == p.max_connections);
  CHECK(j.at("usd_per_request") == p.usd_per_request);
  CHECK(j.at("usd_per_gib") == p.usd_per_gib);
  CHECK(j.at("failure_probability") == 0.01);
  p.latency_p99_ns = 0;
  CHECK(p.ToJson().at("latency_distribution") == "constant");
  CHECK(p.ToJson().at("latency_p99_ms") == 35.0);
}

TEST_CASE("latency: a lognormal reproduces its median and p99 - the same seed repeats", "[sim][network]") {
  NetworkProfile p;
  p.latency_median_ns = 35 * kMillisecond;
  p.latency_p99_ns = 200 * kMillisecond;
  for (std::uint64_t seed : {3, 4}) {
    LatencySampler sampler(p, seed);
    std::vector<Nanos> v(200000);
    for (auto& x : v) x = sampler.Sample();
    std::sort(v.begin(), v.end());
    INFO("seed " << seed);
    // Sampling error of the median and p99 over 200,000 draws is well under 1% and 3%.
    CHECK(static_cast<double>(v[v.size() / 2]) == Approx(35e6).epsilon(0.02));
    CHECK(static_cast<double>(v[v.size() * 99 / 100]) == Approx(200e6).epsilon(0.05));
    CHECK(v.front() > 0);
  }
  LatencySampler a(p, 9), b(p, 9), c(p, 10);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const Nanos x = a.Sample();
    CHECK(x == b.Sample());
    differs |= x != c.Sample();
  }
  CHECK(differs);
}

TEST_CASE("latency: draws are rounded to nanoseconds exactly as std::llround rounds them", "[sim][network]") {
  // Halves, the largest double below a half, values near 2^52 where the fraction bits run out, and
  // draws of every magnitude a profile gives.
  std::vector<double> values = {0.0,
                                0.49999999999999994,
                                0.5,
                                1.5,
                                2.5,
                                2.4999999999999996,
                                35e6 + 0.5,
                                4503599627370495.5,
                                4503599627370496.0,
                                4503599627370497.0,
                                9007199254740993.0,
                                static_cast<double>(kTimeHorizon / 2)};
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> draws(std::log(35e6), 2.0);
  for (int i = 0; i < 100000; ++i) values.push_back(std::min(draws(rng), static_cast<double>(kTimeHorizon / 2)));
  for (double x : values) {
    INFO(x);
    CHECK(RoundNonNegative(x) == std::llround(x));
    CHECK(RoundNonNegative(std::nextafter(x, 0.0)) == std::llround(std::nextafter(x, 0.0)));
  }
}

TEST_CASE("latency: a constant profile always gives its median", "[sim][network]") {
  NetworkProfile p;
  p.latency_median_ns = 7 * kMillisecond;
  p.latency_p99_ns = 0;
  LatencySampler sampler(p, 1);
  for (int i = 0; i < 100; ++i) CHECK(sampler.Sample() == 7 * kMillisecond);
}

TEST_CASE("profiles: one cost formula, requests and bytes at the profile's prices", "[sim][network]") {
  NetworkProfile p;
  p.usd_per_request = 4e-7;
  p.usd_per_gib = 0.02;
  CHECK(p.CostUsd(0, 0) == 0.0);
  CHECK(p.CostUsd(1000, 0) == Approx(4e-4));
  CHECK(p.CostUsd(1000, 3ull << 30) == Approx(4e-4 + 0.06));
}

TEST_CASE("profiles: Unshaped has no latency and no bandwidth cap", "[sim][network]") {
  const NetworkProfile p = NetworkProfile::Unshaped();
  CHECK(p.latency_median_ns == 0);
  CHECK(p.latency_floor_ns() == 0);
  CHECK(p.stream_bandwidth_bytes_per_s == 0);
  LatencySampler sampler(p, 3);
  for (int i = 0; i < 10; ++i) CHECK(sampler.Sample() == 0);
}

}  // namespace
}  // namespace pflab::netmodel
