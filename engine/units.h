// Size constants, and parsing and printing of sizes and durations as users write them ("5MiB", "30ms").
//
// Parsing is exact and checked: a value that does not fit (a size above 2^64-1 bytes, a duration above
// 2^63-1 ns), a fraction of a byte, a sign, an exponent, NaN or infinity is an error, never a wrapped or
// rounded number. Callers apply their own, smaller limits (e.g. traces/limits.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/result.h"
#include "engine/scheduler.h"

namespace pflab {

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;
inline constexpr std::uint64_t kTiB = 1024 * kGiB;

/// Parses a byte count: a non-negative integer or decimal with an optional suffix B, KB, MB, GB, TB
/// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024; K, M, G, T alone also mean these),
/// case-insensitive. Decimals must come to a whole number of bytes ("1.5KiB" is 1536).
Result<std::uint64_t> ParseSize(std::string_view text);
/// Parses a duration: a non-negative number with a suffix ns, us, ms or s (a bare 0 is allowed).
/// Rounded to the nearest nanosecond.
Result<Nanos> ParseDuration(std::string_view text);
/// Parses a rate such as "100MB/s" or "1GiB/s" into bytes per second.
Result<double> ParseRate(std::string_view text);
/// Formats bytes with a binary suffix, e.g. "5MiB", "1.5GiB", "512B".
std::string FormatSize(std::uint64_t bytes);
/// Formats bytes exactly, in the largest binary unit that divides them: "5MiB", "1152KiB", "1000", "0";
/// ParseSize reads it back to the same count.
std::string FormatSizeExact(std::uint64_t bytes);

}  // namespace pflab
