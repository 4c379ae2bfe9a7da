// Synthetic traces of canonical access patterns, for tests, benchmarks and the demo.
//
// Blocks are read_size bytes; block k (1-based) is [(k-1)*read_size, k*read_size). Patterns:
// - sequential: blocks 1, 2, 3, ...
// - random: block-aligned offsets drawn uniformly (seeded), as in the gcsfs benchmarks.
// - backtrack: block 1, then groups of three new blocks b, b+1, b+2 followed by a re-read of b:
//   1, 2,3,4,2, 5,6,7,5, 8,9,10,8, ...
// - visits-home: 1, 2,1, 3,1, 4,1, ... (returns to the first block between forward jumps).
// - strided: one block, skip `stride` bytes, repeat.
// - footer-then-columns: a Parquet-like file of row groups x columns chunks with a footer at the end;
//   reads the last 8 bytes, the footer before them, then for each row group two columns chosen with
//   the seed, each column chunk read sequentially in read_size pieces.
// - parquet-hinted: footer-then-columns, with a hint line announcing each row group's two column
//   chunks before their reads (Parquet's pre_buffer of one row group).
// - multi-stream: `streams` sequential readers over consecutive regions of one object, their reads
//   interleaved round-robin, each with its own stream id.
// - mix: a seeded random mix of the above (traces/random_mix.h) for property tests; the parameters
//   given replace what it would draw (object size fixed, read size and think time as caps).
// Reads never extend past the object's end; a pattern stops early when it runs out of object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

/// Generator inputs; a 0 means "the pattern's default" (a stride left empty: the read size). Values
/// above the limits of traces/limits.h (object and read sizes up to 2^50, streams up to 2^20, reads up
/// to 2^28, issue times up to 2^53 ns) are errors.
struct GeneratorParams {
  std::uint64_t object_size = 0;
  std::uint64_t read_size = 0;
  std::uint64_t count = 0;
  std::uint64_t seed = 0;
  std::uint32_t streams = 0;
  std::optional<std::uint64_t> stride;  // bytes skipped between reads of strided
  Nanos think_ns = 0;                   // spacing of issue times (0: none)
};

/// A pattern and its defaults, for `pflab gen` help and the README.
struct PatternInfo {
  std::string name;
  std::string description;
  GeneratorParams defaults;
};

const std::vector<PatternInfo>& Patterns();

/// Generates a trace; unknown patterns and impossible parameters are errors.
Result<Trace> Generate(const std::string& pattern, const GeneratorParams& params);

}  // namespace pflab::traces
