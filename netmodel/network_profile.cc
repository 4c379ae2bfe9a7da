#include "netmodel/network_profile.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/units.h"

namespace pflab::embedded {
// sim/profiles/profiles.json, written into a generated source file at build time (tools/embed_file.cc).
extern const std::string_view kProfilesJson;
}  // namespace pflab::embedded

namespace pflab::netmodel {
namespace {

constexpr double kZ99 = 2.3263478740408408;

double Sigma(const NetworkProfile& p) {
  return p.constant_latency()
             ? 0.0
             : std::log(static_cast<double>(p.latency_p99_ns) / static_cast<double>(p.latency_median_ns)) / kZ99;
}

// Fields are written as strings with units ("35ms", "220MB/s") so the file reads like the docs it cites.
Result<NetworkProfile> ParseProfile(const std::string& path, const std::string& name, const nlohmann::json& j) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return InvalidArgument(path + ": profile " + name + ": " + field + ": " + why);
  };
  if (!j.is_object()) return bad("(profile)", "expected an object");
  // A misspelt optional field would otherwise be ignored silently and the default used instead.
  static constexpr const char* kFields[] = {"latency_median",  "latency_p99",           "stream_bandwidth",
                                            "link_bandwidth",  "max_connections",       "usd_per_request",
                                            "usd_per_gib",     "failure_probability",   "stream_window",
                                            "latency_min",     "request_overhead",      "request_overhead_cores",
                                            "stream_overhead", "read_overhead_per_mib", "host_bandwidth",
                                            "sources",         "description",           "connect_overhead"};
  for (const auto& [key, value] : j.items()) {
    if (key == "calibration") continue;  // what `pflab calibrate` measured (intervals, times); not read here
    if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields)) {
      // Results and `pflab profiles` print a profile with numbers in fixed units (latency_median_ms):
      // a file copied from there names the field a profiles file writes with its unit in the value.
      for (const auto& [suffix, example] :
           {std::pair{"_ms_per_mib", "\"2ms\""}, std::pair{"_bytes_per_s", "\"220MB/s\""}, std::pair{"_ms", "\"35ms\""},
            std::pair{"_bytes", "\"6MiB\""}}) {
        const std::string stem = key.size() > std::strlen(suffix) && key.ends_with(suffix)
                                     ? key.substr(0, key.size() - std::strlen(suffix))
                                     : "";
        const std::string field = stem == "read_overhead" ? "read_overhead_per_mib" : stem;
        if (!field.empty() && std::find(std::begin(kFields), std::end(kFields), field) != std::end(kFields)) {
          return bad(key, "unknown field: a profiles file writes " + field + " with its unit, e.g. \"" + field +
                              "\": " + example +
                              " (this is the form results and `pflab profiles` print; `pflab "
                              "profiles --file` prints the file's)");
        }
      }
      if (key == "latency_distribution") {
        return bad(key,
                   "unknown field: a profiles file's latencies are lognormal unless latency_p99 is at most "
                   "latency_median (this is the form results and `pflab profiles` print; `pflab profiles --file` "
                   "prints the file's)");
      }
      return bad(key, "unknown field");
    }
  }
  NetworkProfile p;
  auto duration = [&](const char* field, Nanos* out, bool required) -> Status {
    if (!j.contains(field)) return required ? Status(bad(field, "missing")) : OkStatus();
    if (!j[field].is_string()) return bad(field, "expected a string such as \"35ms\"");
    auto d = ParseDuration(j[field].get<std::string>());
    if (!d) return bad(field, d.error().message);
    // As the fake server's latency: a longer one models no network, and sums of them must stay far
    // from the simulated clock's horizon.
    if (*d > 3600 * kSecond) return bad(field, "is longer than an hour");
    *out = *d;
    return OkStatus();
  };
  auto rate = [&](const char* field, double* out) -> Status {
    if (!j.contains(field)) return bad(field, "missing");
    if (!j[field].is_string()) return bad(field, "expected a string such as \"220MB/s\"");
    auto r = ParseRate(j[field].get<std::string>());
    if (!r) return bad(field, r.error().message);
    if (*r <= 0) return bad(field, "must be positive");
    *out = *r;
    return OkStatus();
  };
  auto number = [&](const char* field, double* out) -> Status {
    if (!j.contains(field)) return bad(field, "missing");
    if (!j[field].is_number() || j[field].get<double>() < 0) return bad(field, "expected a non-negative number");
    *out = j[field].get<double>();
    return OkStatus();
  };
  p.latency_p99_ns = 0;
  if (auto s = duration("latency_median", &p.latency_median_ns, true); !s) return s.error();
  if (auto s = duration("latency_p99", &p.latency_p99_ns, false); !s) return s.error();
  if (p.latency_p99_ns != 0 && p.latency_p99_ns < p.latency_median_ns) {
    return bad("latency_p99", "is below latency_median");
  }
  if (auto s = duration("latency_min", &p.latency_min_ns, false); !s) return s.error();
  if (p.latency_min_ns > p.latency_median_ns) return bad("latency_min", "is above latency_median");
  if (auto s = duration("request_overhead", &p.request_overhead_ns, false); !s) return s.error();
  if (j.contains("request_overhead_cores")) {
    double cores = 0;
    if (auto s = number("request_overhead_cores", &cores); !s) return s.error();
    if (cores != std::floor(cores) || cores > 4096) {
      return bad("request_overhead_cores", "expected an integer from 0 (no limit) to 4096");
    }
    p.request_overhead_cores = static_cast<std::uint32_t>(cores);
  }
  if (auto s = duration("stream_overhead", &p.stream_overhead_ns, false); !s) return s.error();
  if (auto s = duration("connect_overhead", &p.connect_overhead_ns, false); !s) return s.error();
  if (auto s = duration("read_overhead_per_mib", &p.read_overhead_ns_per_mib, false); !s) return s.error();
  if (auto s = rate("stream_bandwidth", &p.stream_bandwidth_bytes_per_s); !s) return s.error();
  if (auto s = rate("link_bandwidth", &p.link_bandwidth_bytes_per_s); !s) return s.error();
  if (j.contains("host_bandwidth")) {
    if (auto s = rate("host_bandwidth", &p.host_bandwidth_bytes_per_s); !s) return s.error();
  }
  double connections = 0;
  if (auto s = number("max_connections", &connections); !s) return s.error();
  // Bounded so the count fits its 32-bit field with room (a larger one was undefined behaviour).
  if (connections < 1 || connections > 1e6 || connections != std::floor(connections))
    return bad("max_connections", "expected an integer from 1 to 1000000");
  p.max_connections = static_cast<std::uint32_t>(connections);
  if (auto s = number("usd_per_request", &p.usd_per_request); !s) return s.error();
  if (auto s = number("usd_per_gib", &p.usd_per_gib); !s) return s.error();
  if (j.contains("failure_probability")) {
    if (auto s = number("failure_probability", &p.failure_probability); !s) return s.error();
    if (p.failure_probability > 1) return bad("failure_probability", "must be at most 1");
  }
  if (j.contains("stream_window")) {
    if (!j["stream_window"].is_string()) return bad("stream_window", "expected a string such as \"6MiB\"");
    auto size = ParseSize(j["stream_window"].get<std::string>());
    if (!size) return bad("stream_window", size.error().message);
    if (*size == 0) return bad("stream_window", "must be positive");
    p.stream_window_bytes = *size;
  }
  return p;
}

}  // namespace

NetworkProfile NetworkProfile::Unshaped() {
  NetworkProfile p;
  p.latency_median_ns = 0;
  p.latency_p99_ns = 0;
  p.latency_min_ns = 0;
  p.stream_bandwidth_bytes_per_s = 0;
  return p;
}

double NetworkProfile::CostUsd(std::uint64_t requests, std::uint64_t bytes) const {
  return static_cast<double>(requests) * usd_per_request +
         static_cast<double>(bytes) / static_cast<double>(1ull << 30) * usd_per_gib;
}

nlohmann::json NetworkProfile::ToJson() const {
  nlohmann::json j = {
      {"latency_median_ms", static_cast<double>(latency_median_ns) / 1e6},
      {"latency_p99_ms", static_cast<double>(constant_latency() ? latency_median_ns : latency_p99_ns) / 1e6},
      {"latency_distribution", constant_latency() ? "constant" : "lognormal"},
      {"latency_min_ms", static_cast<double>(latency_floor_ns()) / 1e6},
      {"stream_bandwidth_bytes_per_s", stream_bandwidth_bytes_per_s},
      {"link_bandwidth_bytes_per_s", link_bandwidth_bytes_per_s},
      {"max_connections", max_connections},
      {"usd_per_request", usd_per_request},
      {"usd_per_gib", usd_per_gib},
      {"failure_probability", failure_probability},
      {"stream_window_bytes", stream_window_bytes}};
  // Only when set, so results of profiles without it stay as they were, byte for byte.
  if (request_overhead_ns != 0) j["request_overhead_ms"] = static_cast<double>(request_overhead_ns) / 1e6;
  if (request_overhead_cores != 0) j["request_overhead_cores"] = request_overhead_cores;
  if (stream_overhead_ns != 0) j["stream_overhead_ms"] = static_cast<double>(stream_overhead_ns) / 1e6;
  if (connect_overhead_ns != 0) j["connect_overhead_ms"] = static_cast<double>(connect_overhead_ns) / 1e6;
  if (read_overhead_ns_per_mib != 0) {
    j["read_overhead_ms_per_mib"] = static_cast<double>(read_overhead_ns_per_mib) / 1e6;
  }
  if (host_bandwidth_bytes_per_s != 0) j["host_bandwidth_bytes_per_s"] = host_bandwidth_bytes_per_s;
  return j;
}

LatencySampler::LatencySampler(const NetworkProfile& profile, std::uint64_t seed)
    : constant_(profile.constant_latency()),
      median_(profile.latency_median_ns),
      floor_(profile.latency_floor_ns()),
      rng_(seed),
      dist_(std::log(static_cast<double>(std::max<Nanos>(profile.latency_median_ns, 1))), Sigma(profile)) {}

// The truncation is exact, and so is x minus it (its fraction bits), so halves round up as llround
// rounds them; no library call (one per simulated request).
std::int64_t RoundNonNegative(double x) {
  auto n = static_cast<std::int64_t>(x);
  if (x - static_cast<double>(n) >= 0.5) ++n;
  return n;
}

Nanos LatencySampler::Sample() {
  if (constant_) return median_;
  // Cut at half the clock's horizon (73 years), so the conversion and the time it is added to stay
  // defined; the run stops at the horizon if that comes first. A draw is never negative.
  return std::max(floor_,
                  static_cast<Nanos>(RoundNonNegative(std::min(dist_(rng_), static_cast<double>(kTimeHorizon / 2)))));
}

std::string_view BuiltInProfilesText() {
  return embedded::kProfilesJson;
}

std::string ProfilesSource(const std::string& file) {
  if (!file.empty()) return "--profiles";
  if (const char* env = std::getenv("PFLAB_PROFILES"); env && *env) return "$PFLAB_PROFILES";
  return "";
}

std::string ProfilesErrorSource(const Error& error, const std::string& file, const std::string& otherwise) {
  const std::string path = ProfilesPath(file);
  return !path.empty() && error.message.starts_with(path + ":") ? ProfilesSource(file) : otherwise;
}

std::string ProfilesPath(const std::string& file) {
  if (!file.empty()) return file;
  if (const char* env = std::getenv("PFLAB_PROFILES"); env && *env) return env;
  return "";
}

Result<std::string> ReadProfilesText(const std::string& path) {
  if (path.empty()) return std::string(BuiltInProfilesText());
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open the network profiles file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return InvalidArgument(path + ": cannot read the network profiles file");
  return text;
}

Result<std::map<std::string, NetworkProfile>> ParseProfiles(std::string_view text, const std::string& origin) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(origin + ": malformed JSON: " + e.what());
  }
  if (!doc.is_object() || !doc.contains("profiles") || !doc["profiles"].is_object()) {
    return InvalidArgument(origin + ": expected {\"profiles\": {NAME: {...}}}");
  }
  std::map<std::string, NetworkProfile> out;
  for (const auto& [name, j] : doc["profiles"].items()) {
    auto p = ParseProfile(origin, name, j);
    if (!p) return p.error();
    out[name] = *p;
  }
  return out;
}

Result<std::map<std::string, NetworkProfile>> LoadProfiles(const std::string& path) {
  auto text = ReadProfilesText(path);
  if (!text) return text.error();
  return ParseProfiles(*text, path.empty() ? kBuiltInProfilesName : path);
}

Result<NetworkProfile> FindProfile(const std::string& name, const std::string& path) {
  auto all = LoadProfiles(path);
  if (!all) return all.error();
  auto it = all->find(name);
  if (it != all->end()) return it->second;
  std::string names;
  for (const auto& [n, p] : *all) names += (names.empty() ? "" : ", ") + n;
  return NotFound("unknown network profile '" + name + "' (known: " + names + ")");
}

}  // namespace pflab::netmodel
