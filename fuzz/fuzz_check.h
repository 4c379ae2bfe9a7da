// What the fuzz targets share: a property check that stops the run with a message, so libFuzzer saves
// the input as a crash (a plain return would let a broken property pass as "no crash").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace pflab::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition, const std::string& message) {
  std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n  %s\n", file, line, condition, message.c_str());
  std::abort();
}

/// The fuzzer's bytes as text.
inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Whether `message` starts with "NAME:" (every parser error names its input, most also the line).
inline bool NamesInput(const std::string& message, const std::string& name) {
  return message.size() > name.size() && message.compare(0, name.size(), name) == 0 && message[name.size()] == ':';
}

}  // namespace pflab::fuzz

// `message` is built only when the check fails.
#define FUZZ_REQUIRE(condition, message)                                              \
  do {                                                                                \
    if (!(condition)) ::pflab::fuzz::Fail(__FILE__, __LINE__, #condition, (message)); \
  } while (false)
