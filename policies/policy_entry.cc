#include "policies/policy_entry.h"

#include <charconv>

#include "engine/units.h"

namespace pflab::policies {
namespace entry_internal {

Error BadValue(const std::string& policy, const std::string& key, const std::string& value, const std::string& why) {
  return InvalidArgument("policy " + policy + ": parameter " + key + "=" + value + ": " + why);
}

std::string FormatNumber(ParamKind kind, std::uint64_t value) {
  return kind == ParamKind::kSize ? FormatSizeExact(value) : std::to_string(value);
}

Result<std::uint64_t> ParseNumber(ParamKind kind, const std::string& policy, const std::string& key,
                                  const std::string& value, const Bounds& bounds, std::uint64_t type_max) {
  std::uint64_t number = 0;
  if (kind == ParamKind::kSize) {
    auto size = ParseSize(value);
    if (!size) return BadValue(policy, key, value, size.error().message);
    number = *size;
  } else {
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec != std::errc() || ptr != value.data() + value.size()) {
      return BadValue(policy, key, value, "expected a non-negative integer");
    }
  }
  const std::uint64_t max = bounds.max.value_or(type_max);
  if (number >= bounds.min && number <= max) return number;
  std::string rule;
  if (bounds.max) {
    rule = FormatNumber(kind, bounds.min) + ".." + FormatNumber(kind, *bounds.max);
  } else if (number < bounds.min) {
    rule = bounds.min == 1 ? "positive" : "at least " + FormatNumber(kind, bounds.min);
  } else {
    rule = "at most " + FormatNumber(kind, type_max);
  }
  return InvalidArgument("policy " + policy + ": " + key + " must be " + rule + ", not " + value);
}

Result<bool> ParseBool(const std::string& policy, const std::string& key, const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return BadValue(policy, key, value, "expected true or false");
}

}  // namespace entry_internal

std::string ParamDescriptor::ShownDefault() const {
  std::string shown = default_value.empty() ? "(none)" : default_value;
  if (!default_note.empty()) shown += " " + default_note;
  return shown;
}

const ParamDescriptor* PolicyEntry::FindParam(const std::string& key) const {
  for (const ParamDescriptor& p : params) {
    if (p.name == key) return &p;
  }
  return nullptr;
}

Result<std::any> PolicyEntry::Parse(const std::map<std::string, std::string>& values) const {
  if (parse_any) {
    auto options = parse_any(values);
    if (!options) return options.error();
    if (check) {
      if (auto status = check(*options); !status) return status.error();
    }
    return options;
  }
  // Unknown keys first: a misspelt name says more than a bad value of another parameter.
  for (const auto& [key, value] : values) {
    if (FindParam(key)) continue;
    std::string known;
    for (const ParamDescriptor& p : params) known += (known.empty() ? "" : ", ") + p.name;
    return InvalidArgument("policy " + name + " has no parameter '" + key +
                           "' (it takes: " + (known.empty() ? "none" : known) + ")");
  }
  std::any options = defaults();
  for (const ParamDescriptor& p : params) {
    auto it = values.find(p.name);
    if (it == values.end()) continue;
    if (auto status = p.parse(name, it->second, options); !status) return status.error();
  }
  if (check) {
    if (auto status = check(options); !status) return status.error();
  }
  return options;
}

std::string PolicyEntry::Format(const std::any& options) const {
  if (format_any) {
    const std::string params = format_any(options);
    return params.empty() ? name : name + "(" + params + ")";
  }
  if (params.empty()) return name;
  std::string out = name + "(";
  for (std::size_t i = 0; i < params.size(); ++i)
    out += (i ? "," : "") + params[i].name + "=" + params[i].print(options);
  return out + ")";
}

}  // namespace pflab::policies
