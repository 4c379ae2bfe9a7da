#include "policies/spec_syntax.h"

#include <string>

#include "engine/text.h"

namespace pflab::policies {
namespace {

// `span` of `text` with its blanks dropped.
SpecSpan Trimmed(std::string_view text, std::size_t begin, std::size_t end) {
  const std::string_view piece = Trim(text.substr(begin, end - begin));
  if (piece.empty()) return {begin, begin};
  const std::size_t at = static_cast<std::size_t>(piece.data() - text.data());
  return {at, at + piece.size()};
}

SpecSpan Shift(SpecSpan span, std::size_t by) {
  return {span.begin + by, span.end + by};
}

// One layer, `span` of the stack `text`.
Result<LayerSyntax> TokenizeLayer(std::string_view text, SpecSpan span) {
  const std::string_view layer_text = span.Of(text);
  const std::string quoted = "'" + std::string(layer_text) + "'";
  LayerSyntax layer;
  const std::size_t open = layer_text.find('(');
  layer.name = Shift(Trimmed(layer_text, 0, open == std::string_view::npos ? layer_text.size() : open), span.begin);
  if (layer.name.empty()) return InvalidArgument("empty policy name in " + quoted);
  if (open == std::string_view::npos) return layer;
  if (layer_text.back() != ')') return InvalidArgument("expected ')' at the end of " + quoted);
  const std::size_t inner_begin = span.begin + open + 1;
  const std::string_view inner = text.substr(inner_begin, span.end - 1 - inner_begin);
  if (Trim(inner).empty()) return layer;
  auto items = SplitTopLevel(inner, ',');
  if (!items) return items.error();
  const std::string name(layer.name.Of(text));
  for (const SpecSpan& local : *items) {
    const SpecSpan item = Shift(local, inner_begin);
    const std::string_view item_text = item.Of(text);
    const std::size_t eq = item_text.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("parameter '" + std::string(item_text) + "' of " + name + " is not key=value");
    }
    ParamSyntax param{Shift(Trimmed(item_text, 0, eq), item.begin),
                      Shift(Trimmed(item_text, eq + 1, item_text.size()), item.begin)};
    for (const ParamSyntax& earlier : layer.params) {
      if (earlier.key.Of(text) == param.key.Of(text)) {
        return InvalidArgument("parameter " + std::string(param.key.Of(text)) + " of " + name + " given twice");
      }
    }
    layer.params.push_back(param);
  }
  return layer;
}

}  // namespace

Result<std::vector<SpecSpan>> SplitTopLevel(std::string_view text, char sep) {
  std::vector<SpecSpan> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')' && --depth < 0) return InvalidArgument("unbalanced ')' in '" + std::string(text) + "'");
    if (text[i] == sep && depth == 0) {
      out.push_back(Trimmed(text, start, i));
      start = i + 1;
    }
  }
  if (depth != 0) return InvalidArgument("unbalanced '(' in '" + std::string(text) + "'");
  out.push_back(Trimmed(text, start, text.size()));
  return out;
}

Result<std::vector<LayerSyntax>> TokenizeStack(std::string_view text) {
  if (Trim(text).empty()) return InvalidArgument("empty policy spec");
  auto parts = SplitTopLevel(text, '>');
  if (!parts) return parts.error();
  std::vector<LayerSyntax> layers;
  for (const SpecSpan& part : *parts) {
    auto layer = TokenizeLayer(text, part);
    if (!layer) {
      return InvalidArgument("in policy spec '" + std::string(Trim(text)) + "': " + layer.error().message);
    }
    layers.push_back(std::move(*layer));
  }
  return layers;
}

}  // namespace pflab::policies
