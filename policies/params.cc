#include "policies/params.h"

#include <charconv>

#include "engine/units.h"

namespace pflab::policies {

Error Params::Bad(const std::string& key, const std::string& why) const {
  return InvalidArgument("policy " + policy_ + ": parameter " + key + "=" + values_.at(key) + ": " + why);
}

Result<std::uint64_t> Params::TakeSize(const std::string& key, std::uint64_t fallback) {
  taken_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  auto size = ParseSize(it->second);
  if (!size) return Bad(key, size.error().message);
  return *size;
}

Result<std::uint64_t> Params::TakeUint(const std::string& key, std::uint64_t fallback) {
  taken_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  std::uint64_t value = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return Bad(key, "expected a non-negative integer");
  return value;
}

Result<bool> Params::TakeBool(const std::string& key, bool fallback) {
  taken_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  if (it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  return Bad(key, "expected true or false");
}

Result<std::string> Params::TakeString(const std::string& key, const std::string& fallback) {
  taken_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  return it->second;
}

Result<std::string> Params::TakeChoice(const std::string& key, const std::vector<std::string>& allowed,
                                       const std::string& fallback) {
  taken_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  for (const auto& a : allowed) {
    if (a == it->second) return a;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
  return Bad(key, "expected one of " + list);
}

Status Params::Finish() const {
  for (const auto& [key, value] : values_) {
    if (taken_.count(key)) continue;
    std::string known;
    for (const auto& k : taken_) known += (known.empty() ? "" : ", ") + k;
    return InvalidArgument("policy " + policy_ + " has no parameter '" + key +
                           "' (it takes: " + (known.empty() ? "none" : known) + ")");
  }
  return OkStatus();
}

}  // namespace pflab::policies
