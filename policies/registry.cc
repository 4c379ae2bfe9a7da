#include "policies/registry.h"

#include <any>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "engine/text.h"
#include "policies/spec_syntax.h"

namespace pflab::policies {

// Every policy, in the order `pflab policies` lists them: the one line a new policy adds outside its
// own file pair. Each name is the entry function the policy's file pair defines (the explicit list,
// rather than self-registration, also keeps the linker from dropping a policy out of the static
// library).
#define PFLAB_POLICIES(X)  \
  X(NoneEntry)             \
  X(FsspecReadAheadEntry)  \
  X(FsspecBlockCacheEntry) \
  X(FsspecMMapEntry)       \
  X(FsspecBytesEntry)      \
  X(FsspecFirstChunkEntry) \
  X(FsspecAllBytesEntry)   \
  X(FsspecKnownPartsEntry) \
  X(FsspecBackgroundEntry) \
  X(GcsfsV795Entry)        \
  X(GcsfsAdaptiveEntry)    \
  X(LinuxReadaheadEntry)   \
  X(MountpointEntry)       \
  X(GcsfuseReaderEntry)    \
  X(GcsfuseBufferedEntry)  \
  X(GcsfsConcurrentEntry)  \
  X(ArrowCoalesceEntry)    \
  X(AutoEntry)             \
  X(OracleEntry)           \
  X(ConcurrentEntry)

#define PFLAB_DECLARE_ENTRY(entry) PolicyEntry entry();
PFLAB_POLICIES(PFLAB_DECLARE_ENTRY)
#undef PFLAB_DECLARE_ENTRY

namespace {

// One layer of a spec, parsed: its entry and its Options (of the entry's type).
struct ParsedLayer {
  const PolicyEntry* entry = nullptr;
  std::any options;
};

const PolicyEntry& BottomEntry() {
  static const PolicyEntry* const kBottom = [] {
    const PolicyEntry* bottom = nullptr;
    for (const PolicyEntry& entry : RegisteredPolicies()) {
      if (entry.placement != Placement::kBottom) continue;
      if (bottom) throw std::logic_error("two bottom layers registered: " + bottom->name + ", " + entry.name);
      bottom = &entry;
    }
    if (!bottom) throw std::logic_error("no bottom layer registered");
    return bottom;
  }();
  return *kBottom;
}

// What RegisterPolicy and RegisterPolicyFamily add. Deques, so pointers to entries stay valid.
struct Extra {
  std::mutex mutex;
  std::deque<PolicyEntry> added;     // plugins' policies
  std::deque<PolicyEntry> resolved;  // family members named so far
  std::vector<PolicyFamily> families;
};

Extra& Extras() {
  static auto* extra = new Extra;  // never destroyed: entries may be used during static teardown
  return *extra;
}

const PolicyEntry* FindBuiltIn(std::string_view name) {
  for (const PolicyEntry& entry : RegisteredPolicies()) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

// Under Extras().mutex.
const PolicyEntry* FindExtra(std::string_view name) {
  for (const auto* list : {&Extras().added, &Extras().resolved}) {
    for (const PolicyEntry& entry : *list) {
      if (entry.name == name) return &entry;
    }
  }
  return nullptr;
}

Result<ParsedLayer> ParseLayer(const LayerSpec& layer) {
  auto entry = ResolvePolicy(layer.name);
  if (!entry) return entry.error();
  auto options = (*entry)->Parse(layer.params);
  if (!options) return options.error();
  return ParsedLayer{*entry, std::move(*options)};
}

// Parses every layer, appends the fetcher when the spec names none, and checks each layer's placement.
Result<std::vector<ParsedLayer>> ParseAll(const StackSpec& spec) {
  std::vector<ParsedLayer> all;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    auto layer = ParseLayer(spec.layers[i]);
    if (!layer) return layer.error();
    if (layer->entry->placement == Placement::kBottom && i + 1 != spec.layers.size()) {
      return InvalidArgument("in '" + spec.text + "': " + layer->entry->name +
                             " is the bottom layer and must come last");
    }
    all.push_back(std::move(*layer));
  }
  if (all.empty() || all.back().entry->placement != Placement::kBottom) {
    const PolicyEntry& bottom = BottomEntry();
    std::any options = bottom.defaults();
    for (const ParsedLayer& layer : all) {
      if (layer.entry->set_fetcher) {
        layer.entry->set_fetcher(layer.options, std::any_cast<ConcurrentFetcherOptions&>(options));
      }
    }
    all.push_back({&bottom, std::move(options)});
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].entry->placement == Placement::kAlone && (i != 0 || all.size() != 2)) {
      return InvalidArgument("in '" + spec.text + "': " + all[i].entry->name +
                             " stands alone (only concurrent may follow it)");
    }
  }
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    if (all[i].entry->placement == Placement::kOnFetcher && all[i + 1].entry->placement != Placement::kBottom) {
      return InvalidArgument("in '" + spec.text + "': " + all[i].entry->name +
                             " must sit directly on the fetcher (last, or just above concurrent)");
    }
  }
  return all;
}

}  // namespace

Result<StackSpec> ParseStackSpec(std::string_view text) {
  StackSpec spec;
  spec.text = std::string(Trim(text));
  auto layers = TokenizeStack(spec.text);
  if (!layers) return layers.error();
  for (const LayerSyntax& syntax : *layers) {
    LayerSpec layer;
    layer.name = std::string(syntax.name.Of(spec.text));
    for (const ParamSyntax& param : syntax.params) {
      layer.params.emplace(param.key.Of(spec.text), param.value.Of(spec.text));
    }
    spec.layers.push_back(std::move(layer));
  }
  return spec;
}

Result<std::vector<StackSpec>> ParsePolicyList(std::string_view text) {
  auto items = SplitTopLevel(text, ',');
  if (!items) return items.error();
  std::vector<StackSpec> out;
  for (const SpecSpan& item : *items) {
    auto spec = ParseStackSpec(item.Of(text));
    if (!spec) return spec.error();
    if (auto status = ValidateStack(*spec); !status) return status.error();
    out.push_back(std::move(*spec));
  }
  return out;
}

const std::vector<PolicyEntry>& RegisteredPolicies() {
#define PFLAB_ENTRY(entry) entry(),
  static const std::vector<PolicyEntry> kPolicies = {PFLAB_POLICIES(PFLAB_ENTRY)};
#undef PFLAB_ENTRY
  return kPolicies;
}

const PolicyEntry* FindPolicy(std::string_view name) {
  if (const PolicyEntry* entry = FindBuiltIn(name)) return entry;
  std::lock_guard lock(Extras().mutex);
  return FindExtra(name);
}

Status RegisterPolicy(PolicyEntry entry) {
  if (entry.name.empty() || !entry.build) return InvalidArgument("a policy needs a name and a way to build it");
  if (FindBuiltIn(entry.name)) return InvalidArgument("policy '" + entry.name + "' is already a built-in policy");
  std::lock_guard lock(Extras().mutex);
  if (FindExtra(entry.name)) return InvalidArgument("policy '" + entry.name + "' is already registered");
  for (const PolicyFamily& family : Extras().families) {
    if (entry.name.starts_with(family.prefix)) {
      return InvalidArgument("policy '" + entry.name + "' has the prefix of the family " + family.syntax);
    }
  }
  Extras().added.push_back(std::move(entry));
  return OkStatus();
}

Status RegisterPolicyFamily(PolicyFamily family) {
  if (family.prefix.empty() || !family.resolve) return InvalidArgument("a policy family needs a prefix and a resolver");
  std::lock_guard lock(Extras().mutex);
  for (const PolicyFamily& other : Extras().families) {
    if (other.prefix == family.prefix)
      return InvalidArgument("policy family '" + family.prefix + "' is already registered");
  }
  Extras().families.push_back(std::move(family));
  return OkStatus();
}

std::vector<const PolicyEntry*> AllPolicies() {
  std::vector<const PolicyEntry*> out;
  for (const PolicyEntry& entry : RegisteredPolicies()) out.push_back(&entry);
  std::lock_guard lock(Extras().mutex);
  for (const PolicyEntry& entry : Extras().added) out.push_back(&entry);
  return out;
}

std::vector<PolicyFamily> PolicyFamilies() {
  std::lock_guard lock(Extras().mutex);
  return Extras().families;
}

Result<const PolicyEntry*> ResolvePolicy(std::string_view name) {
  if (const PolicyEntry* entry = FindBuiltIn(name)) return entry;
  std::function<Result<PolicyEntry>(const std::string&)> resolve;
  {
    std::lock_guard lock(Extras().mutex);
    if (const PolicyEntry* entry = FindExtra(name)) return entry;
    for (const PolicyFamily& family : Extras().families) {
      if (name.starts_with(family.prefix)) resolve = family.resolve;
    }
  }
  if (!resolve) {
    std::string names;
    for (const PolicyEntry* p : AllPolicies()) names += (names.empty() ? "" : ", ") + p->name;
    for (const PolicyFamily& family : PolicyFamilies()) names += ", " + family.syntax;
    return InvalidArgument("unknown policy '" + std::string(name) + "' (known: " + names + "; see `pflab policies`)");
  }
  // Resolved outside the lock: a family may load a library or an interpreter first.
  auto entry = resolve(std::string(name));
  if (!entry) return entry.error();
  if (entry->name != name) throw std::logic_error("family resolved '" + std::string(name) + "' as " + entry->name);
  std::lock_guard lock(Extras().mutex);
  if (const PolicyEntry* earlier = FindExtra(name)) return earlier;  // another thread resolved it meanwhile
  Extras().resolved.push_back(std::move(*entry));
  return &Extras().resolved.back();
}

namespace {

// Whether the entry of any layer of `spec` has `flag` set (layers that do not resolve have none).
bool AnyLayerHas(const StackSpec& spec, bool PolicyEntry::*flag) {
  for (const LayerSpec& layer : spec.layers) {
    auto entry = ResolvePolicy(layer.name);
    if (entry && (*entry)->*flag) return true;
  }
  return false;
}

}  // namespace

bool RunsOneAtATime(const StackSpec& spec) {
  return AnyLayerHas(spec, &PolicyEntry::one_run_at_a_time);
}

bool CopiesBytes(const StackSpec& spec) {
  return AnyLayerHas(spec, &PolicyEntry::copies_bytes);
}

PolicyStack::~PolicyStack() {
  for (auto& layer : layers_) layer.reset();
}

Status ValidateStack(const StackSpec& spec) {
  auto all = ParseAll(spec);
  if (!all) return all.error();
  return OkStatus();
}

Result<std::string> CanonicalSpec(const StackSpec& spec) {
  auto all = ParseAll(spec);
  if (!all) return all.error();
  std::string out;
  for (const ParsedLayer& layer : *all) out += (out.empty() ? "" : " > ") + layer.entry->Format(layer.options);
  return out;
}

Result<std::unique_ptr<PolicyStack>> BuildStack(const StackSpec& spec, const StackEnv& env) {
  auto all = ParseAll(spec);
  if (!all) return all.error();
  auto stack = std::make_unique<PolicyStack>();
  std::vector<std::unique_ptr<Source>> bottom_up;
  for (auto it = all->rbegin(); it != all->rend(); ++it) {
    Source* lower = bottom_up.empty() ? nullptr : bottom_up.back().get();
    std::unique_ptr<Source> layer = it->entry->build(env, lower, it->options);
    if (it->entry->placement == Placement::kBottom) {
      stack->fetcher_ = dynamic_cast<ConcurrentFetcher*>(layer.get());
      if (!stack->fetcher_) throw std::logic_error("bottom layer " + it->entry->name + " is not a ConcurrentFetcher");
    }
    bottom_up.push_back(std::move(layer));
  }
  for (auto it = bottom_up.rbegin(); it != bottom_up.rend(); ++it) stack->layers_.push_back(std::move(*it));
  return stack;
}

}  // namespace pflab::policies

#undef PFLAB_POLICIES
