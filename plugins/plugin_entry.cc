#include "plugins/plugin_entry.h"

#include <charconv>
#include <memory>
#include <mutex>
#include <set>

#include "engine/units.h"
#include "plugins/plugin_layer.h"

namespace pflab::plugins {
namespace {

using policies::ParamDescriptor;
using policies::ParamKind;
using policies::PolicyEntry;

// A declared parameter, as the entry keeps it.
struct Declared {
  std::string name;
  plugin::ParamKind kind = plugin::ParamKind::kUint;
  std::uint64_t min = 0;
  std::uint64_t max = UINT64_MAX;
  std::vector<std::string> choices;
};

// Event layer names must live as long as the process (events point at them) and need no JSON escaping.
const char* InternEventName(const std::string& name) {
  static std::mutex mutex;
  static auto* names = new std::set<std::string>;  // never destroyed: events may point at them
  std::string safe = name;
  for (char& c : safe) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  }
  std::lock_guard lock(mutex);
  return names->insert(std::move(safe)).first->c_str();
}

ParamKind ToKind(plugin::ParamKind kind) {
  switch (kind) {
    case plugin::ParamKind::kSize: return ParamKind::kSize;
    case plugin::ParamKind::kUint: return ParamKind::kUint;
    case plugin::ParamKind::kBool: return ParamKind::kBool;
    case plugin::ParamKind::kChoice: return ParamKind::kChoice;
    case plugin::ParamKind::kText: return ParamKind::kText;
  }
  return ParamKind::kText;
}

// Checks `text` against `param` and writes it as `pflab policies` prints values.
Result<std::string> Normalize(const std::string& policy, const Declared& param, const std::string& text) {
  switch (param.kind) {
    case plugin::ParamKind::kSize:
    case plugin::ParamKind::kUint: {
      const ParamKind kind = ToKind(param.kind);
      const policies::Bounds bounds =
          param.max == UINT64_MAX ? policies::AtLeast(param.min) : policies::Between(param.min, param.max);
      auto number = policies::entry_internal::ParseNumber(kind, policy, param.name, text, bounds, UINT64_MAX);
      if (!number) return number.error();
      return policies::entry_internal::FormatNumber(kind, *number);
    }
    case plugin::ParamKind::kBool: {
      auto flag = policies::entry_internal::ParseBool(policy, param.name, text);
      if (!flag) return flag.error();
      return std::string(*flag ? "true" : "false");
    }
    case plugin::ParamKind::kChoice: {
      std::string list;
      for (const std::string& c : param.choices) {
        if (c == text) return text;
        list += (list.empty() ? "" : "|") + c;
      }
      return policies::entry_internal::BadValue(policy, param.name, text, "expected one of " + list);
    }
    case plugin::ParamKind::kText: return text;
  }
  return text;
}

// A size or integer as a spec writes it; plain integers exactly, whatever their size (ParseSize goes
// through a double).
bool ParseNumberText(const std::string& text, std::uint64_t* out) {
  if (text.empty()) return false;
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
  auto size = ParseSize(text);
  if (!size) return false;
  *out = *size;
  return true;
}

// The values of one layer, as the plugin reads them.
class ValuesParams final : public plugin::Params {
 public:
  explicit ValuesParams(const PluginValues& values) : values_(values) {}

  std::uint64_t Number(const char* name) const override {
    const std::string* text = Find(name);
    std::uint64_t value = 0;
    return text && ParseNumberText(*text, &value) ? value : 0;
  }
  bool Flag(const char* name) const override {
    const std::string* text = Find(name);
    return text && *text == "true";
  }
  const char* Text(const char* name) const override {
    const std::string* text = Find(name);
    return text ? text->c_str() : "";
  }
  std::size_t Count() const override { return values_.values.size(); }
  const char* Key(std::size_t i) const override { return values_.values.at(i).first.c_str(); }
  const char* Value(std::size_t i) const override { return values_.values.at(i).second.c_str(); }
  bool ValueAsNumber(std::size_t i, std::uint64_t* out) const override {
    return ParseNumberText(values_.values.at(i).second, out);
  }
  bool ValueAsDuration(std::size_t i, std::int64_t* out) const override {
    auto duration = ParseDuration(values_.values.at(i).second);
    if (!duration) return false;
    *out = *duration;
    return true;
  }

 private:
  const std::string* Find(const char* name) const {
    for (const auto& [key, value] : values_.values) {
      if (key == name) return &value;
    }
    return nullptr;
  }

  const PluginValues& values_;
};

}  // namespace

bool IsSpecName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '(' || c == ')' || c == ',' || c == '>' || c == '=' || c == '"' ||
        c == '\'' || c == '\\' || c == '|') {
      return false;
    }
  }
  return true;
}

Result<PolicyEntry> MakePluginEntry(const plugin::PolicyInfo& info, plugin::Factory* factory) {
  const std::string name = info.name ? info.name : "";
  if (!IsSpecName(name)) {
    return InvalidArgument("policy name '" + name +
                           "' cannot be written in a spec (it must be non-empty, without blanks, quotes, "
                           "backslashes or any of ( ) , > = |)");
  }
  if (!factory) return InvalidArgument("policy " + name + " has no factory");
  if (info.placement != plugin::Placement::kAnywhere && info.placement != plugin::Placement::kOnFetcher) {
    return InvalidArgument("policy " + name + " has an unknown placement");
  }
  if (info.param_count && !info.params) return InvalidArgument("policy " + name + " has no parameter table");
  if (info.any_params && info.param_count) {
    return InvalidArgument("policy " + name + " takes any key=value and declares parameters: choose one");
  }

  PolicyEntry entry;
  entry.name = name;
  entry.origin = info.origin ? info.origin : "";
  entry.description = info.description ? info.description : "";
  entry.placement = info.placement == plugin::Placement::kOnFetcher ? policies::Placement::kOnFetcher
                                                                    : policies::Placement::kAnywhere;
  entry.one_run_at_a_time = info.one_run_at_a_time;
  entry.copies_bytes = true;

  std::vector<Declared> declared;
  PluginValues defaults;
  for (std::size_t i = 0; i < info.param_count; ++i) {
    const plugin::Param& p = info.params[i];
    Declared d;
    d.name = p.name ? p.name : "";
    d.kind = p.kind;
    d.min = p.min;
    d.max = p.max;
    if (d.name.empty() || !IsSpecName(d.name)) {
      return InvalidArgument("policy " + name + ": parameter " + std::to_string(i + 1) + " has no usable name");
    }
    if (p.kind < plugin::ParamKind::kSize || p.kind > plugin::ParamKind::kText) {
      return InvalidArgument("policy " + name + ": parameter " + d.name + " has an unknown kind");
    }
    if (p.kind == plugin::ParamKind::kChoice) {
      for (std::size_t c = 0; c < p.choice_count; ++c) d.choices.emplace_back(p.choices[c] ? p.choices[c] : "");
      if (d.choices.empty())
        return InvalidArgument("policy " + name + ": choice parameter " + d.name + " has no choices");
    }
    for (const Declared& other : declared) {
      if (other.name == d.name) return InvalidArgument("policy " + name + ": parameter " + d.name + " twice");
    }
    auto value = Normalize(name, d, p.default_value ? p.default_value : "");
    if (!value) {
      return InvalidArgument("policy " + name + ": the default of " + d.name +
                             " is not valid: " + value.error().message);
    }
    defaults.values.emplace_back(d.name, *value);

    ParamDescriptor param;
    param.name = d.name;
    param.kind = ToKind(p.kind);
    param.description = p.description ? p.description : "";
    param.choices = d.choices;
    param.parse = [d, policy = name, index = i](const std::string&, const std::string& text,
                                                std::any& options) -> Status {
      auto normalized = Normalize(policy, d, text);
      if (!normalized) return normalized.error();
      std::any_cast<PluginValues&>(options).values.at(index).second = *normalized;
      return OkStatus();
    };
    param.print = [index = i](const std::any& options) {
      return std::any_cast<const PluginValues&>(options).values.at(index).second;
    };
    declared.push_back(std::move(d));
    entry.params.push_back(std::move(param));
  }
  for (ParamDescriptor& p : entry.params) p.default_value = p.print(std::any(defaults));

  entry.defaults = [defaults] { return std::any(defaults); };
  entry.same = [](const std::any& a, const std::any& b) {
    return std::any_cast<const PluginValues&>(a) == std::any_cast<const PluginValues&>(b);
  };
  if (info.any_params) {
    entry.parse_any = [](const std::map<std::string, std::string>& values) -> Result<std::any> {
      PluginValues out;
      for (const auto& [key, value] : values) out.values.emplace_back(key, value);
      return std::any(std::move(out));
    };
    entry.format_any = [](const std::any& options) {
      std::string out;
      for (const auto& [key, value] : std::any_cast<const PluginValues&>(options).values) {
        out += (out.empty() ? "" : ",") + key + "=" + value;
      }
      return out;
    };
  }
  entry.check = [factory, name](std::any& options) -> Status {
    const ValuesParams params(std::any_cast<const PluginValues&>(options));
    if (const char* why = factory->Check(params)) return InvalidArgument("policy " + name + ": " + why);
    return OkStatus();
  };
  if (info.fetcher_parts > 0) {
    entry.set_fetcher = [parts = info.fetcher_parts](const std::any&, ConcurrentFetcherOptions& fetcher) {
      fetcher.parts = parts;
      fetcher.rule = SplitRule::kMain;
    };
  }
  const char* event_name = InternEventName(name);
  entry.build = [factory, name, event_name](const policies::StackEnv& env, Source* lower,
                                            const std::any& options) -> std::unique_ptr<Source> {
    const ValuesParams params(std::any_cast<const PluginValues&>(options));
    return std::make_unique<PluginLayer>(env, lower, PluginLayerSetup{event_name, name, factory}, params);
  };
  return entry;
}

}  // namespace pflab::plugins
