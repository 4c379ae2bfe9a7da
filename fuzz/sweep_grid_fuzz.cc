// Fuzzes the sweep grid syntax (replay/sweep.h ExpandGrid, ExpandPolicies). An expansion holds no grid
// syntax any more (expanding it again gives itself), text without grid syntax expands to itself, and
// ExpandPolicies returns valid, distinct specs.
#include <set>

#include "fuzz/fuzz_check.h"
#include "policies/registry.h"
#include "replay/sweep.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  if (size > 512) return 0;  // grids are short; the expansion limits bound the work, not the text
  const std::string text(fuzz::AsText(data, size));
  auto expanded = replay::ExpandGrid(text);
  if (expanded) {
    FUZZ_REQUIRE(!expanded->empty(), "a grid expanded to nothing: " + text);
    if (text.find('|') == std::string::npos && text.find("..") == std::string::npos) {
      FUZZ_REQUIRE(expanded->size() == 1 && expanded->front() == policies::ParseStackSpec(text)->text,
                   "text without grid values expanded to something else: " + text);
    }
    for (const auto& e : *expanded) {
      // An alternative may hold a parenthesis that unbalances the spec; ExpandPolicies reports those.
      if (!policies::ParseStackSpec(e).ok()) continue;
      auto again = replay::ExpandGrid(e);
      FUZZ_REQUIRE(again.ok() && again->size() == 1 && again->front() == e,
                   "the expansion '" + e + "' of '" + text + "' still expands");
    }
  }
  auto specs = replay::ExpandPolicies({text});
  if (specs) {
    std::set<std::string> seen;
    for (const auto& s : *specs) {
      FUZZ_REQUIRE(policies::ValidateStack(s).ok(), "an invalid spec came out: " + s.text);
      FUZZ_REQUIRE(seen.insert(s.text).second, "a spec came out twice: " + s.text);
    }
  }
  return 0;
}
