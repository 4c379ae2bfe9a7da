// File helpers the tests share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace pflab::testing {

/// A file's bytes, in one read (a character iterator over tens of MB takes seconds in the sanitizer
/// build); empty when the file cannot be read.
inline std::string Slurp(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return "";
  std::ifstream in(path, std::ios::binary);
  std::string out(size, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

/// Fills `out` with seeded random bytes, eight per draw (a draw per byte is slow in the sanitizer build).
inline void FillRandom(std::string& out, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < out.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, out.size() - i));
  }
}

}  // namespace pflab::testing
