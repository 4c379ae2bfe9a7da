// The read sequences of the fsspec parity test (tests/policies/fsspec_parity_test.cc), and our layers'
// side of it, shared with the Python bridge's parity test (tests/python/python_bridge_test.cc), which
// runs Debian's fsspec caches through the bridge on the same sequences.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/reader.h"
#include "engine/units.h"
#include "policies/fsspec_all.h"
#include "policies/fsspec_blockcache.h"
#include "policies/fsspec_bytes.h"
#include "policies/fsspec_first.h"
#include "policies/fsspec_mmap.h"
#include "policies/fsspec_parts.h"
#include "policies/fsspec_readahead.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"

namespace pflab::policies::parity {

struct Case {
  std::string label;
  std::string cache;
  std::uint64_t size = 0;
  std::uint64_t blocksize = 0;
  std::uint64_t maxblocks = 32;
  std::vector<ByteRange> parts;
  std::vector<ByteRange> reads;
};

// What one side did.
struct Outcome {
  std::vector<std::vector<ByteRange>> requests;  // per read
  std::vector<std::int64_t> lengths;             // per read; -1 for an error
};

inline std::unique_ptr<Source> MakePolicy(const Case& c, LayerContext ctx, Source* lower) {
  if (c.cache == "readahead") return std::make_unique<FsspecReadAhead>(ctx, lower, ReadAheadOptions{c.blocksize});
  if (c.cache == "bytes") return std::make_unique<FsspecBytes>(ctx, lower, BytesOptions{c.blocksize});
  if (c.cache == "all") return std::make_unique<FsspecAllBytes>(ctx, lower);
  if (c.cache == "first") return std::make_unique<FsspecFirstChunk>(ctx, lower, FirstChunkOptions{c.blocksize});
  if (c.cache == "blockcache") {
    return std::make_unique<FsspecBlockCache>(ctx, lower, BlockCacheOptions{c.blocksize, c.maxblocks});
  }
  if (c.cache == "mmap") return std::make_unique<FsspecMMap>(ctx, lower, MMapOptions{c.blocksize});
  if (c.cache == "parts") return std::make_unique<FsspecKnownParts>(ctx, lower, PartsOptions{c.parts});
  FAIL("no policy for cache " << c.cache);
  return nullptr;
}

inline Outcome RunOurs(const Case& c) {
  sim::SimScheduler scheduler;
  NullEventSink events;
  testing::LoggingSource lower(&scheduler, c.size);
  auto policy = MakePolicy(c, LayerContext{&scheduler, &events, 0}, &lower);
  Outcome out;
  std::size_t seen = c.cache == "parts" ? c.parts.size() : 0;  // the parts' up-front fetch
  Reader reader(LayerContext{&scheduler, &events, 0}, policy.get());
  for (const auto& r : c.reads) {
    std::int64_t length = -2;
    auto done = [&](Result<Slices> result) {
      length = result.ok() ? static_cast<std::int64_t>(TotalLength(*result)) : -1;
    };
    // A read crossing EOF goes through a Reader, as replay sends it: cut at EOF, the end asked for
    // passed on (fsspec's file hands its caches loc + length uncut).
    if (r.end > c.size) {
      reader.ReadAt(r.begin, r.size(), done);
    } else {
      policy->Read(r, done);
    }
    scheduler.Run();
    std::vector<ByteRange> requests;
    for (; seen < lower.requests.size(); ++seen)
      requests.push_back({lower.requests[seen].begin, lower.requests[seen].end});
    out.requests.push_back(std::move(requests));
    out.lengths.push_back(length);
  }
  return out;
}

// Read sequences

inline std::vector<ByteRange> MiBBlocks(std::initializer_list<int> ks) {
  std::vector<ByteRange> out;
  for (int k : ks) out.push_back({(k - 1) * kMiB, k * kMiB});
  return out;
}

// The reference sequences of research/gcsfs_fsspec.md section 2 (64 MiB file, 1 MiB reads).
inline std::vector<std::pair<std::string, std::vector<ByteRange>>> ReferenceSequences(std::uint64_t size) {
  return {
      {"seq 1..12", MiBBlocks({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})},
      {"backtrack", MiBBlocks({1, 2, 3, 4, 2, 5, 6, 7, 5})},
      {"visits home", MiBBlocks({1, 2, 1, 3, 1, 4, 1, 5})},
      {"parquet-ish",
       {{size - 8, size}, {size - 8 - 64 * kKiB, size - 8}, {0, 4}, {8 * kMiB, 12 * kMiB}, {30 * kMiB, 31 * kMiB}}}};
}

// `count` reads mixing sequential runs, backward jumps, re-reads, random seeks and reads near EOF, of
// lengths from a few bytes to a few blocks. All inside the file and non-empty.
inline std::vector<ByteRange> RandomReads(std::uint64_t size, std::uint64_t blocksize, std::uint32_t seed, int count) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](std::uint64_t lo, std::uint64_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  std::vector<ByteRange> out;
  ByteRange last{0, 0};
  for (int i = 0; i < count; ++i) {
    std::uint64_t length = 0;
    switch (uniform(0, 3)) {
      case 0: length = uniform(1, 4096); break;
      case 1: length = uniform(1, blocksize); break;
      case 2: length = uniform(blocksize / 2, 2 * blocksize); break;
      default: length = uniform(1, 4 * blocksize); break;
    }
    std::uint64_t begin = 0;
    const auto kind = uniform(0, 9);
    if (kind <= 4) {
      begin = last.end;  // sequential (half the time)
    } else if (kind == 5) {
      begin = last.begin - std::min(last.begin, uniform(0, 3 * blocksize));  // backward jump
    } else if (kind == 6) {
      begin = last.begin;  // re-read
    } else if (kind == 7) {
      begin = size - std::min(size, uniform(1, blocksize + 100));  // near EOF
    } else if (kind == 8) {
      begin = uniform(0, size / blocksize) * blocksize;  // block-aligned seek
    } else {
      begin = uniform(0, size - 1);
    }
    if (begin >= size) begin = uniform(0, size - 1);
    const ByteRange r{begin, std::min(size, begin + length)};
    out.push_back(r);
    last = r;
  }
  return out;
}

// For blockcache: reads on which 2022.11 and master agree (see the top comment).
inline std::vector<ByteRange> BlockCacheAgreeing(std::vector<ByteRange> reads, std::uint64_t bs,
                                                 std::uint64_t maxblocks) {
  std::vector<ByteRange> out;
  for (ByteRange r : reads) {
    const std::uint64_t last_allowed = r.begin / bs + maxblocks - 1;
    r.end = std::min(r.end, (last_allowed + 1) * bs - 1);
    if (r.end % bs == 0) --r.end;
    if (r.empty()) continue;
    out.push_back(r);
  }
  return out;
}

// For parts: reads starting inside a part, ending anywhere up to EOF.
inline std::vector<ByteRange> InsideParts(const std::vector<ByteRange>& parts, std::uint64_t size, std::uint32_t seed,
                                          int count) {
  std::mt19937_64 rng(seed);
  std::vector<ByteRange> out;
  for (int i = 0; i < count; ++i) {
    const ByteRange& p = parts[rng() % parts.size()];
    const std::uint64_t begin = p.begin + rng() % p.size();
    std::uint64_t end = begin + 1 + rng() % (rng() % 2 ? p.end - begin : size - begin);
    out.push_back({begin, std::min(end, size)});
  }
  return out;
}

// Reads crossing EOF, as fsspec's file passes them to its cache (uncut): the reads of RandomReads that
// it cut at EOF, extended past it by 1 byte to 2 blocks.
inline std::vector<ByteRange> PastEofReads(std::uint64_t size, std::uint64_t blocksize, std::uint32_t seed, int count) {
  std::vector<ByteRange> out = RandomReads(size, blocksize, seed, count);
  std::mt19937_64 rng(seed + 1000);
  for (auto& r : out) {
    if (r.end == size) r.end += 1 + rng() % (2 * blocksize);
  }
  return out;
}

inline std::vector<Case> ParityCases() {
  std::vector<Case> cases;
  const std::uint64_t ref_size = 64 * kMiB, ref_bs = 5 * kMiB;
  // (size, blocksize) for the random sequences: the reference file; a size that is not a multiple of
  // the block; a block-aligned size (the block after EOF); a file smaller than one block.
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> shapes = {
      {ref_size, ref_bs}, {1000003, 65536}, {1048576, 65536}, {40000, 65536}};
  for (const char* cache : {"readahead", "bytes", "all", "first", "blockcache", "mmap"}) {
    const std::string name = cache;
    const bool blockcache = name == "blockcache";
    for (auto& [label, reads] : ReferenceSequences(ref_size)) {
      Case c{name + " " + label, name, ref_size, ref_bs, 32, {}, reads};
      if (blockcache) c.reads = BlockCacheAgreeing(reads, ref_bs, c.maxblocks);
      cases.push_back(c);
    }
    for (std::uint32_t seed = 1; seed <= 5; ++seed) {
      for (const auto& [size, bs] : shapes) {
        if (size == ref_size && seed > 2) continue;  // the 64 MiB file is slow on the Python side
        Case c{name + " random seed " + std::to_string(seed) + " size " + std::to_string(size),
               name,
               size,
               bs,
               3,
               {},
               RandomReads(size, bs, seed, 200)};
        if (blockcache) c.reads = BlockCacheAgreeing(c.reads, bs, c.maxblocks);
        cases.push_back(c);
      }
    }
  }
  const std::vector<ByteRange> parts = {{0, 100 * kKiB}, {300 * kKiB, 310 * kKiB}, {500 * kKiB, 800 * kKiB}};
  for (std::uint32_t seed = 1; seed <= 3; ++seed) {
    cases.push_back({"parts seed " + std::to_string(seed), "parts", 1000 * kKiB, 64 * kKiB, 32, parts,
                     InsideParts(parts, 1000 * kKiB, seed, 200)});
  }
  return cases;
}

}  // namespace pflab::policies::parity
