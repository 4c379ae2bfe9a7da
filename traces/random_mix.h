// Random traces for property tests: seeded mixes of the generators' patterns.
//
// A trace is a list of segments. Each segment picks a stream, an object, a pattern (sequential run,
// random reads, backtrack, visits-home, strided, a footer-then-columns scan with or without a hint
// line, re-reads of the pair's earlier reads, one whole-object read), a read size and a think time,
// and appends up to 24 reads of that pattern to its stream. Streams start at slightly different
// times and their reads are merged by issue time, so a trace with several streams interleaves them.
//
// Sizes are drawn log-uniformly, so every scale turns up: objects from `min_object_size` to
// `max_object_size` (default 1 KiB to 1 TiB), read sizes per segment from `min_read_size` to
// `max_read_size` (default 1 B to 64 MiB, clamped to the object), think times per segment either 0
// (half the segments) or from 1 us to `max_think_ns`. Reads never extend past their object's end.
// The same options give the same trace, byte for byte; `pflab gen mix --seed N` writes trace N.
#pragma once

#include <cstdint>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

/// What RandomMix draws from; a 0 count means "drawn with the seed".
struct RandomMixOptions {
  std::uint64_t seed = 1;
  std::uint64_t reads = 0;    // total reads; 0: 16..160
  std::uint32_t streams = 0;  // 0: 1..4
  std::uint32_t objects = 0;  // 0: 1..3
  std::uint64_t min_object_size = 1ull << 10;
  std::uint64_t max_object_size = 1ull << 40;
  std::uint64_t min_read_size = 1;
  std::uint64_t max_read_size = 64ull << 20;
  Nanos max_think_ns = 5 * kMillisecond;
  bool hints = true;  // footer-then-columns segments may announce their column chunks
};

/// Generates one random trace; impossible options (a minimum above its maximum, zero sizes) are errors.
Result<Trace> RandomMix(const RandomMixOptions& options);

}  // namespace pflab::traces
