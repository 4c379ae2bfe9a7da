#include "policies/spec_syntax.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace pflab::policies {
namespace {

std::vector<std::string> Pieces(std::string_view text, const std::vector<SpecSpan>& spans) {
  std::vector<std::string> out;
  for (const SpecSpan& s : spans) out.emplace_back(s.Of(text));
  return out;
}

TEST_CASE("spec syntax: top-level splits keep parameters whole and trim blanks", "[policies][spec_syntax]") {
  const std::string text = " none , concurrent(parts=4, min=1MiB) ,a(x=f(1,2)) ";
  auto pieces = SplitTopLevel(text, ',');
  REQUIRE(pieces.ok());
  CHECK(Pieces(text, *pieces) == std::vector<std::string>{"none", "concurrent(parts=4, min=1MiB)", "a(x=f(1,2))"});
  CHECK((*pieces)[1].begin == 8);  // a span of `text`, not a copy
  auto empty = SplitTopLevel("none,", ',');
  REQUIRE(empty.ok());
  CHECK(empty->size() == 2);
  CHECK(empty->back().empty());
  CHECK_THAT(SplitTopLevel("a(b", ',').error().message, Catch::Contains("unbalanced '('"));
  CHECK_THAT(SplitTopLevel("a)b(", ',').error().message, Catch::Contains("unbalanced ')'"));
}

TEST_CASE("spec syntax: a stack's names, keys and values are spans of the text", "[policies][spec_syntax]") {
  const std::string text = "fsspec-readahead( blocksize = 1MiB|2MiB ) > gcsfs-v795 > x(a=f(1,2),b=)";
  auto layers = TokenizeStack(text);
  REQUIRE(layers.ok());
  REQUIRE(layers->size() == 3);
  const LayerSyntax& top = (*layers)[0];
  CHECK(top.name.Of(text) == "fsspec-readahead");
  REQUIRE(top.params.size() == 1);
  CHECK(top.params[0].key.Of(text) == "blocksize");
  CHECK(top.params[0].value.Of(text) == "1MiB|2MiB");
  CHECK(text.substr(top.params[0].value.begin, 4) == "1MiB");
  CHECK((*layers)[1].name.Of(text) == "gcsfs-v795");
  CHECK((*layers)[1].params.empty());
  const LayerSyntax& last = (*layers)[2];
  REQUIRE(last.params.size() == 2);
  CHECK(last.params[0].value.Of(text) == "f(1,2)");
  CHECK(last.params[1].key.Of(text) == "b");
  CHECK(last.params[1].value.empty());
  CHECK(TokenizeStack("none()").value()[0].params.empty());
}

TEST_CASE("spec syntax: errors say what is wrong and where", "[policies][spec_syntax]") {
  auto error = [](const std::string& text) { return TokenizeStack(text).error().message; };
  CHECK(error("  ") == "empty policy spec");
  CHECK(error("none > > none") == "in policy spec 'none > > none': empty policy name in ''");
  CHECK(error("a(x=1)b") == "in policy spec 'a(x=1)b': expected ')' at the end of 'a(x=1)b'");
  CHECK(error("a(x)") == "in policy spec 'a(x)': parameter 'x' of a is not key=value");
  CHECK(error("a(x=1, x=2)") == "in policy spec 'a(x=1, x=2)': parameter x of a given twice");
  CHECK(error("a(x=1") == "unbalanced '(' in 'a(x=1'");
}

}  // namespace
}  // namespace pflab::policies
