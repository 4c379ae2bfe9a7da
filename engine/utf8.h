// UTF-8 checks for text that ends up in JSON (trace files, the fake server's bodies), which can hold
// only well-formed UTF-8: nlohmann::json throws on anything else when it writes.
#pragma once

#include <string>
#include <string_view>

namespace pflab {

/// Whether `text` is well-formed UTF-8: no stray continuation bytes, truncated sequences, overlong
/// forms, surrogates (U+D800..U+DFFF) or code points past U+10FFFF.
bool IsUtf8(std::string_view text);

/// `text` with every byte outside printable ASCII, and the backslash, written as \xNN: for messages
/// that quote bytes which may not be text.
std::string EscapeBytes(std::string_view text);

}  // namespace pflab
