// Object content as a pure function of (object, offset), so terabyte objects cost no memory and every
// delivered byte can be checked. The simulator and the fake GCS server use the same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pflab {

/// A 64-bit identity of one object version, mixed from its bucket, name and generation.
std::uint64_t ObjectSeed(std::string_view bucket, std::string_view name, std::int64_t generation);

/// The byte at `offset` of the object with `object_seed`.
std::byte SyntheticByte(std::uint64_t object_seed, std::uint64_t offset);

/// Writes bytes [offset, offset+length) of the object into `dest`.
void FillSynthetic(std::uint64_t object_seed, std::uint64_t offset, std::byte* dest, std::uint64_t length);

/// How many leading bytes of `data` equal bytes [offset, offset+length) of the object: `length` when
/// all do. Compares in place, a word at a time, so checking a read costs no buffer and no second pass.
std::uint64_t MatchingSyntheticPrefix(std::uint64_t object_seed, std::uint64_t offset, const std::byte* data,
                                      std::uint64_t length);

}  // namespace pflab
