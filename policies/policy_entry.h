// How a policy describes itself to the registry (policies/registry.h): its name and origin, its
// parameters, where it may sit in a stack, and how to build it.
//
// Each policy's file pair defines one entry function, e.g. `PolicyEntry FsspecReadAheadEntry()`, made
// with EntryBuilder over the policy's Options struct. Every parameter is tied to a field of that
// struct, so parsing, bounds checks and the defaults `pflab policies` prints come from one table, and
// the defaults are the struct's own: a default-constructed Options, or the entry's Defaults function
// where the original has several sets (as Arrow's CacheOptions::Defaults() is the one source of its
// defaults). The registry holds no per-policy code; it lists the entry functions.
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/buffer.h"
#include "engine/concurrent_fetcher.h"
#include "engine/source.h"
#include "engine/transport.h"
#include "policies/network_summary.h"
#include "policies/run_shared.h"

namespace pflab::policies {

/// One read of an object by one stream, as the trace has it (see StackEnv::object_reads).
struct StreamRead {
  std::uint32_t stream = 0;
  ByteRange range;
  Nanos think = 0;  // after the stream's previous read of the object
};

/// Everything a stack needs from the run.
struct StackEnv {
  LayerContext ctx;
  Transport* transport = nullptr;
  ObjectRef object;
  /// This stack's account (the fetcher charges its buffers here). In a run it is a child of the run's
  /// account (`run->account()`), so its held bytes are what this open file holds.
  MemoryAccount* account = nullptr;
  /// Shared by all stacks of the run; null for a stack built outside a run (a layer then stands alone).
  RunShared* run = nullptr;
  std::uint64_t seed = 1;
  /// The reads this stack will be asked for, in order (from the trace): only `oracle` uses them.
  std::shared_ptr<const std::vector<ByteRange>> future_reads;
  /// The think time before each of those reads (same length), for the oracle's planner.
  std::shared_ptr<const std::vector<Nanos>> future_think_ns;
  /// What the oracle's planner may know of the network: the profile's distributions.
  NetworkSummary network;
  /// The largest peak memory of any policy in the same comparison (0: unknown). The oracle's default
  /// memory budget is at least this, so a budget never excuses losing to a policy of the comparison.
  std::uint64_t comparison_peak_memory_bytes = 0;
  /// How many (stream, object) stacks the run has in all (the oracle plans one; see oracle_planner.h).
  std::uint32_t stacks_in_run = 1;
  /// Every stream's reads of this object, in trace order, when several streams read it (else null):
  /// the oracle's stacks of such an object plan them together and share their bytes (policies/oracle.h).
  std::shared_ptr<const std::vector<StreamRead>> object_reads;
  /// With object_reads: how many streams it holds reads of (counted once per object by the run, not
  /// at each of its stacks' opens).
  std::uint32_t object_streams = 0;
};

/// Where a layer may sit in a stack (layers listed top first). The registry checks every spec.
enum class Placement {
  kAnywhere,   ///< over any layer
  kOnFetcher,  ///< directly on the fetcher: it keeps several requests in flight, which only the fetcher accepts
  kAlone,      ///< the only layer, over the fetcher: it must know the application's reads as they are
  kBottom,     ///< the fetcher itself: last, and appended with its defaults when a spec leaves it out
};

/// How a parameter's value is written in a spec.
enum class ParamKind {
  kSize,    ///< a byte count such as 5MiB
  kUint,    ///< a non-negative integer
  kBool,    ///< true/false (or 1/0)
  kChoice,  ///< one of a fixed list of words
  kText,    ///< anything; the policy parses it (e.g. fsspec-parts' list of ranges)
};

/// Bounds of a size or integer parameter, checked when it is parsed. Without `max`, the largest value
/// the field's type holds.
struct Bounds {
  std::uint64_t min = 0;
  std::optional<std::uint64_t> max;
};
inline Bounds AtLeast(std::uint64_t min) {
  return Bounds{min, std::nullopt};
}
inline Bounds Between(std::uint64_t min, std::uint64_t max) {
  return Bounds{min, max};
}

/// Options of a policy that takes no parameters.
struct NoOptions {
  bool operator==(const NoOptions&) const = default;
};

/// One parameter of a policy, tied to a field of the policy's Options (held in a std::any).
struct ParamDescriptor {
  std::string name;
  ParamKind kind = ParamKind::kUint;
  std::string description;
  /// The entry's default, written as a spec writes it: printed from the entry's default Options.
  std::string default_value;
  /// Said after the default by `pflab policies` (e.g. how another layer changes it); usually empty.
  std::string default_note;
  /// kChoice: the words allowed.
  std::vector<std::string> choices;
  /// Sets the field in `options` from `value` as written in a spec of `policy`; checks the bounds.
  std::function<Status(const std::string& policy, const std::string& value, std::any& options)> parse;
  /// The field's value in `options`, written so that `parse` reads it back.
  std::function<std::string(const std::any& options)> print;

  /// The default as `pflab policies` shows it: "(none)" for an empty one, then the note.
  std::string ShownDefault() const;
};

/// A registered policy. Make one with EntryBuilder.
struct PolicyEntry {
  std::string name;
  std::string origin;
  std::string description;
  Placement placement = Placement::kAnywhere;
  std::vector<ParamDescriptor> params;
  /// The Options a layer starts from before its parameters are applied.
  std::function<std::any()> defaults;
  /// Rules across parameters, run once all are applied; may also normalise (e.g. raise to a minimum).
  std::function<Status(std::any& options)> check;
  /// Set for a layer whose original client also sets up the fetcher below it (gcsfs passes its
  /// concurrency and split rule to its fetcher): applied to the fetcher appended when a spec names none.
  std::function<void(const std::any& options, ConcurrentFetcherOptions& fetcher)> set_fetcher;
  /// Builds the layer over `lower` (null for the bottom layer).
  std::function<std::unique_ptr<Source>(const StackEnv& env, Source* lower, const std::any& options)> build;
  /// Whether two Options of this entry are equal (round-trip checks).
  std::function<bool(const std::any& a, const std::any& b)> same;
  /// Set for a policy that takes any `key=value` (a Python class's keyword arguments, which only the
  /// class knows): Parse hands every value to `parse_any` instead of checking them against `params`,
  /// and Format writes the parameters with `format_any` (as `key=value,...`, without the parentheses).
  std::function<Result<std::any>(const std::map<std::string, std::string>& values)> parse_any;
  std::function<std::string(const std::any& options)> format_any;
  /// Runs of stacks holding this layer go one at a time in a process, whatever --jobs says: the layer
  /// runs in an interpreter the whole process shares (Python policies).
  bool one_run_at_a_time = false;
  /// The layer delivers copies of the bytes it fetched, made outside the engine (plugins: the bytes
  /// cross into the plugin's language and back), so only the bytes themselves can be checked: with
  /// --verify-bytes the simulator moves real bytes for stacks holding it, instead of recording where
  /// chunks' bytes came from (engine/buffer.h Provenance), which a copy does not carry.
  bool copies_bytes = false;

  /// The parameter called `key`, or null.
  const ParamDescriptor* FindParam(const std::string& key) const;
  /// Options from `values` (key -> text, as in a spec) applied over the defaults. Fails on an unknown
  /// key (naming the ones the policy takes), a bad value, a value out of bounds, or a failed check.
  Result<std::any> Parse(const std::map<std::string, std::string>& values) const;
  /// `name(key=value,...)` with every parameter of `options` written out; just `name` without parameters.
  std::string Format(const std::any& options) const;
};

namespace entry_internal {

// The non-template halves of EntryBuilder's parameters: parsing a value, checking bounds, printing.
Result<std::uint64_t> ParseNumber(ParamKind kind, const std::string& policy, const std::string& key,
                                  const std::string& value, const Bounds& bounds, std::uint64_t type_max);
std::string FormatNumber(ParamKind kind, std::uint64_t value);
Result<bool> ParseBool(const std::string& policy, const std::string& key, const std::string& value);
Error BadValue(const std::string& policy, const std::string& key, const std::string& value, const std::string& why);

}  // namespace entry_internal

/// Builds the PolicyEntry of a policy whose Options struct is `O` (copyable, with operator==). Fields
/// are named by pointer to member (`&O::blocksize`) or by a function returning a reference into `O`
/// (for nested fields); parameters are listed in the order `pflab policies` shows them.
template <typename O>
class EntryBuilder {
  template <typename Field>
  using FieldType = std::remove_cvref_t<std::invoke_result_t<const Field&, O&>>;

 public:
  EntryBuilder(std::string name, std::string origin, std::string description) : defaults_([] { return O{}; }) {
    entry_.name = std::move(name);
    entry_.origin = std::move(origin);
    entry_.description = std::move(description);
  }

  /// Where the defaults come from, when not from a default-constructed `O`.
  EntryBuilder& Defaults(std::function<O()> make) {
    defaults_ = std::move(make);
    return *this;
  }
  EntryBuilder& Place(Placement placement) {
    entry_.placement = placement;
    return *this;
  }

  template <typename Field>
  EntryBuilder& Size(std::string name, Field field, std::string description, Bounds bounds = {}) {
    return Number(ParamKind::kSize, std::move(name), field, std::move(description), bounds);
  }
  template <typename Field>
  EntryBuilder& Uint(std::string name, Field field, std::string description, Bounds bounds = {}) {
    return Number(ParamKind::kUint, std::move(name), field, std::move(description), bounds);
  }
  template <typename Field>
  EntryBuilder& Bool(std::string name, Field field, std::string description) {
    static_assert(std::is_same_v<FieldType<Field>, bool>);
    ParamDescriptor& p = Add(ParamKind::kBool, std::move(name), std::move(description));
    p.parse = [field, key = p.name](const std::string& policy, const std::string& text, std::any& options) -> Status {
      auto value = entry_internal::ParseBool(policy, key, text);
      if (!value) return value.error();
      std::invoke(field, std::any_cast<O&>(options)) = *value;
      return OkStatus();
    };
    p.print = [field](const std::any& options) -> std::string {
      O copy = std::any_cast<const O&>(options);
      return std::invoke(field, copy) ? "true" : "false";
    };
    return *this;
  }
  /// One of `words`, each standing for a value of the field.
  template <typename Field>
  EntryBuilder& Choice(std::string name, Field field, std::vector<std::pair<std::string, FieldType<Field>>> words,
                       std::string description) {
    ParamDescriptor& p = Add(ParamKind::kChoice, std::move(name), std::move(description));
    for (const auto& [word, value] : words) p.choices.push_back(word);
    p.parse = [field, words, key = p.name](const std::string& policy, const std::string& text,
                                           std::any& options) -> Status {
      for (const auto& [word, value] : words) {
        if (word == text) {
          std::invoke(field, std::any_cast<O&>(options)) = value;
          return OkStatus();
        }
      }
      std::string list;
      for (const auto& [word, value] : words) list += (list.empty() ? "" : "|") + word;
      return entry_internal::BadValue(policy, key, text, "expected one of " + list);
    };
    p.print = [field, words, key = p.name](const std::any& options) -> std::string {
      O copy = std::any_cast<const O&>(options);
      for (const auto& [word, value] : words) {
        if (value == std::invoke(field, copy)) return word;
      }
      throw std::logic_error("parameter " + key + " holds a value none of its words stands for");
    };
    return *this;
  }
  /// Free text that `parse` turns into the field's value and `format` writes back.
  template <typename Field>
  EntryBuilder& Text(std::string name, Field field, Result<FieldType<Field>> (*parse)(const std::string&),
                     std::string (*format)(const FieldType<Field>&), std::string description) {
    ParamDescriptor& p = Add(ParamKind::kText, std::move(name), std::move(description));
    p.parse = [field, parse](const std::string&, const std::string& text, std::any& options) -> Status {
      auto value = parse(text);
      if (!value) return value.error();
      std::invoke(field, std::any_cast<O&>(options)) = std::move(*value);
      return OkStatus();
    };
    p.print = [field, format](const std::any& options) {
      O copy = std::any_cast<const O&>(options);
      return format(std::invoke(field, copy));
    };
    return *this;
  }
  /// A note `pflab policies` prints after the default of the parameter added last.
  EntryBuilder& Note(std::string note) {
    if (entry_.params.empty()) throw std::logic_error("policy " + entry_.name + ": Note before any parameter");
    entry_.params.back().default_note = std::move(note);
    return *this;
  }
  /// Rules across parameters (see PolicyEntry::check).
  EntryBuilder& Check(std::function<Status(O&)> check) {
    entry_.check = [check = std::move(check)](std::any& options) { return check(std::any_cast<O&>(options)); };
    return *this;
  }
  /// What this layer sets on a fetcher appended below it (see PolicyEntry::set_fetcher).
  EntryBuilder& SetsFetcher(std::function<void(const O&, ConcurrentFetcherOptions&)> set) {
    entry_.set_fetcher = [set = std::move(set)](const std::any& options, ConcurrentFetcherOptions& fetcher) {
      set(std::any_cast<const O&>(options), fetcher);
    };
    return *this;
  }
  EntryBuilder& Build(std::function<std::unique_ptr<Source>(const StackEnv&, Source*, const O&)> build) {
    entry_.build = [build = std::move(build)](const StackEnv& env, Source* lower, const std::any& options) {
      return build(env, lower, std::any_cast<const O&>(options));
    };
    return *this;
  }
  /// Builds the layer as `Layer(env.ctx, lower, options)`.
  template <typename Layer>
  EntryBuilder& Builds() {
    return Build([](const StackEnv& env, Source* lower, const O& options) -> std::unique_ptr<Source> {
      return std::make_unique<Layer>(env.ctx, lower, options);
    });
  }

  /// The entry, with every parameter's default printed from the defaults.
  PolicyEntry Done() {
    if (!entry_.build) throw std::logic_error("policy " + entry_.name + " has no Build");
    entry_.defaults = [make = defaults_]() -> std::any { return make(); };
    entry_.same = [](const std::any& a, const std::any& b) {
      return std::any_cast<const O&>(a) == std::any_cast<const O&>(b);
    };
    const std::any defaults = entry_.defaults();
    for (ParamDescriptor& p : entry_.params) p.default_value = p.print(defaults);
    return std::move(entry_);
  }

 private:
  ParamDescriptor& Add(ParamKind kind, std::string name, std::string description) {
    if (entry_.FindParam(name)) throw std::logic_error("policy " + entry_.name + ": parameter " + name + " twice");
    ParamDescriptor& p = entry_.params.emplace_back();
    p.name = std::move(name);
    p.kind = kind;
    p.description = std::move(description);
    return p;
  }

  template <typename Field>
  EntryBuilder& Number(ParamKind kind, std::string name, Field field, std::string description, Bounds bounds) {
    using T = FieldType<Field>;
    static_assert(std::is_unsigned_v<T> && !std::is_same_v<T, bool>, "a size or integer field is unsigned");
    ParamDescriptor& p = Add(kind, std::move(name), std::move(description));
    p.parse = [field, kind, bounds, key = p.name](const std::string& policy, const std::string& text,
                                                  std::any& options) -> Status {
      auto value = entry_internal::ParseNumber(kind, policy, key, text, bounds, std::numeric_limits<T>::max());
      if (!value) return value.error();
      std::invoke(field, std::any_cast<O&>(options)) = static_cast<T>(*value);
      return OkStatus();
    };
    p.print = [field, kind](const std::any& options) {
      O copy = std::any_cast<const O&>(options);
      return entry_internal::FormatNumber(kind, std::invoke(field, copy));
    };
    return *this;
  }

  PolicyEntry entry_;
  std::function<O()> defaults_;
};

}  // namespace pflab::policies
