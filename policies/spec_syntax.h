// The syntax of policy specs, one tokenizer for the registry (policies/registry.h) and the sweep grid
// parser (replay/sweep.h):
//   list  := stack (',' stack)*          commas inside parentheses belong to parameters
//   stack := layer ('>' layer)*          top (nearest the application) first
//   layer := name | name '(' [param (',' param)*] ')'
//   param := key '=' value               a value may hold parentheses of its own
// Blanks around every piece are dropped. Pieces are returned as spans of the text, so a caller can
// rewrite one value in place (the sweep grid does) as well as read it.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "engine/result.h"

namespace pflab::policies {

/// Where a piece of spec text lies in the text it was cut from, blanks trimmed.
struct SpecSpan {
  std::size_t begin = 0;
  std::size_t end = 0;

  std::string_view Of(std::string_view text) const { return text.substr(begin, end - begin); }
  bool empty() const { return end == begin; }
};

/// One `key=value` of a layer.
struct ParamSyntax {
  SpecSpan key;
  SpecSpan value;
};

/// One layer of a stack: its name and its parameters in the order written.
struct LayerSyntax {
  SpecSpan name;
  std::vector<ParamSyntax> params;
};

/// Splits `text` at `sep` outside parentheses; each piece trimmed. Fails on unbalanced parentheses.
Result<std::vector<SpecSpan>> SplitTopLevel(std::string_view text, char sep);

/// The layers of one stack spec. Fails, saying where, on an empty spec or layer name, a missing ')', a
/// parameter that is not key=value and a key given twice in one layer.
Result<std::vector<LayerSyntax>> TokenizeStack(std::string_view text);

}  // namespace pflab::policies
