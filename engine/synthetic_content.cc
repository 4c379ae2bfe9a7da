#include "engine/synthetic_content.h"

#include <bit>
#include <cstring>

namespace pflab {
namespace {

constexpr std::uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // splitmix64's increment: 2^64 / golden ratio

// splitmix64's output function: cheap, and every output bit depends on every input bit.
std::uint64_t Mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Word i is output i of a splitmix64 generator seeded with the object seed, computed directly
// rather than by stepping (the state after i + 1 steps is seed + (i + 1) * gamma), so any offset is
// O(1) and one hash yields 8 bytes.
std::uint64_t Word(std::uint64_t object_seed, std::uint64_t word_index) {
  return Mix(object_seed + (word_index + 1) * kGamma);
}

}  // namespace

std::uint64_t ObjectSeed(std::string_view bucket, std::string_view name, std::int64_t generation) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  auto add = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h ^= 0xff;  // separator, so ("ab","c") differs from ("a","bc")
    h *= 0x100000001b3ull;
  };
  add(bucket);
  add(name);
  // FNV-1a alone leaves similar names with similar hashes; the final mix spreads them.
  return Mix(h ^ Mix(static_cast<std::uint64_t>(generation) + kGamma));
}

std::byte SyntheticByte(std::uint64_t object_seed, std::uint64_t offset) {
  // Byte k of a word is bits 8k..8k+7: little-endian order, the same on every host.
  return static_cast<std::byte>(Word(object_seed, offset / 8) >> (8 * (offset % 8)));
}

void FillSynthetic(std::uint64_t object_seed, std::uint64_t offset, std::byte* dest, std::uint64_t length) {
  while (length > 0 && offset % 8 != 0) {
    *dest++ = SyntheticByte(object_seed, offset++);
    --length;
  }
  for (std::uint64_t word = offset / 8; length >= 8; ++word) {
    std::uint64_t w = Word(object_seed, word);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    std::memcpy(dest, &w, 8);  // one unaligned store
    dest += 8;
    offset += 8;
    length -= 8;
  }
  while (length > 0) {
    *dest++ = SyntheticByte(object_seed, offset++);
    --length;
  }
}

std::uint64_t MatchingSyntheticPrefix(std::uint64_t object_seed, std::uint64_t offset, const std::byte* data,
                                      std::uint64_t length) {
  std::uint64_t i = 0;
  for (; i < length && (offset + i) % 8 != 0; ++i) {
    if (data[i] != SyntheticByte(object_seed, offset + i)) return i;
  }
  for (std::uint64_t word = (offset + i) / 8; length - i >= 8; ++word, i += 8) {
    std::uint64_t w = Word(object_seed, word);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    if (std::memcmp(data + i, &w, 8) != 0) break;  // one unaligned load; the byte loop below finds which
  }
  for (; i < length; ++i) {
    if (data[i] != SyntheticByte(object_seed, offset + i)) return i;
  }
  return length;
}

}  // namespace pflab
