#include "engine/synthetic_content.h"

#include <cstring>

namespace pflab {
namespace {

// splitmix64 finaliser: cheap, and every output bit depends on every input bit.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// One 8-byte word per hash keeps filling at memory speed.
std::uint64_t Word(std::uint64_t object_seed, std::uint64_t word_index) {
  return Mix(object_seed ^ Mix(word_index));
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
  return Mix(h ^ static_cast<std::uint64_t>(generation));
}

std::byte SyntheticByte(std::uint64_t object_seed, std::uint64_t offset) {
  return static_cast<std::byte>(Word(object_seed, offset / 8) >> (8 * (offset % 8)));
}

void FillSynthetic(std::uint64_t object_seed, std::uint64_t offset, std::byte* dest, std::uint64_t length) {
  while (length > 0 && offset % 8 != 0) {
    *dest++ = SyntheticByte(object_seed, offset++);
    --length;
  }
  while (length >= 8) {
    const std::uint64_t w = Word(object_seed, offset / 8);
    // Byte i of the word is (w >> 8i), i.e. little-endian order, independent of the host.
    for (int i = 0; i < 8; ++i) dest[i] = static_cast<std::byte>(w >> (8 * i));
    dest += 8;
    offset += 8;
    length -= 8;
  }
  while (length > 0) {
    *dest++ = SyntheticByte(object_seed, offset++);
    --length;
  }
}

}  // namespace pflab
