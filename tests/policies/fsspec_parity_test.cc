// Parity with the real fsspec: the same reads through pflab's fsspec policy layers and through
// fsspec.caching (Debian's python3-fsspec, 2022.11, installed by scripts/setup.sh) must make the same
// requests, in the same order, and return the same number of bytes per read.
//
// tests/policies/fsspec_parity.py runs the Python side (see its docstring for the input and output).
// Both sides log requests clamped to the file size and drop empty ones: fsspec asks for whole blocks
// past EOF where our layers clamp to the object.
//
// Our layers follow fsspec master (669de5e1). Where Debian's 2022.11 differs (research/
// gcsfs_fsspec.md section 2, "What differs in 2022.11"), we do one of two things, per cache:
// - mmap: normalize (option b, without patching fsspec): 2022.11 sends one request per missing block
//   in ascending order, master one per run of consecutive missing blocks; the script merges the
//   requests of one read that touch end to start, which gives exactly master's runs (and does nothing
//   on an fsspec that already merges). Every sequence is compared.
// - blockcache: compare only where the versions agree (option a): 2022.11 visits blocks s//bs..e//bs
//   and makes a second pass, so reads with a block-aligned end fetch one block more, and reads spanning
//   more than maxblocks blocks refetch evicted ones. We move a block-aligned end one byte earlier and
//   cut reads to at most maxblocks blocks, for the reference sequences too (there, read 5 of "visits
//   home" becomes [4 MiB, 5 MiB - 1)). On such reads both versions call the LRU in the same order
//   (2022.11's second pass touches the same blocks in the same order, evicting nothing), so the
//   requests and the LRU state agree, with maxblocks small enough that eviction matters.
// - first: 2022.11 neither clamps the end to the size nor caps the block at the size; with reads inside
//   the file (all of ours) and requests clamped to the size, both versions make the same requests.
//   Compared on every sequence, including a file smaller than the block.
// - parts: 2022.11 defaults to strict=True; the script passes strict=False (master's default). Reads
//   starting outside the parts raise in master but fetch in 2022.11, so we only send reads that start
//   inside a part. Neither side makes any request then; on ours the parts are fetched once at the first
//   read (standing for the caller's up-front fetch, see policies/fsspec_parts.h), so those requests are
//   skipped before comparing. Byte counts agree too (2022.11 zero-fills over later parts instead of
//   copying them, but the length is the same).
// - readahead, bytes, all: same logic in both versions; every sequence must match exactly. AllBytes
//   fetches in its constructor, ours on the first read: the constructor's requests are counted as
//   the first read's.
// - background: not in 2022.11 (added in 2023.3.0), so no parity here; see fsspec_caches_test.cc.
//
// If /usr/bin/python3 or python3-fsspec is missing, the test fails and says so.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

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

namespace pflab::policies {
namespace {

using nlohmann::json;

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

std::unique_ptr<Source> MakePolicy(const Case& c, LayerContext ctx, Source* lower) {
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

Outcome RunOurs(const Case& c) {
  sim::SimScheduler scheduler;
  NullEventSink events;
  testing::LoggingSource lower(&scheduler, c.size);
  auto policy = MakePolicy(c, LayerContext{&scheduler, &events, 0}, &lower);
  Outcome out;
  std::size_t seen = c.cache == "parts" ? c.parts.size() : 0;  // the parts' up-front fetch
  for (const auto& r : c.reads) {
    std::int64_t length = -2;
    policy->Read(
        r, [&](Result<Slices> result) { length = result.ok() ? static_cast<std::int64_t>(TotalLength(*result)) : -1; });
    scheduler.Run();
    std::vector<ByteRange> requests;
    for (; seen < lower.requests.size(); ++seen)
      requests.push_back({lower.requests[seen].begin, lower.requests[seen].end});
    out.requests.push_back(std::move(requests));
    out.lengths.push_back(length);
  }
  return out;
}

json ToJson(const std::vector<ByteRange>& ranges) {
  json out = json::array();
  for (const auto& r : ranges) out.push_back({r.begin, r.end});
  return out;
}

std::vector<ByteRange> RangesOf(const json& j) {
  std::vector<ByteRange> out;
  for (const auto& r : j) out.push_back({r.at(0).get<std::uint64_t>(), r.at(1).get<std::uint64_t>()});
  return out;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the Python side for all cases at once (one interpreter start).
std::vector<Outcome> RunFsspec(const std::vector<Case>& cases, std::string* version) {
  const std::string python = "/usr/bin/python3";
  if (access(python.c_str(), X_OK) != 0) {
    FAIL("parity test needs " << python << " with python3-fsspec: run scripts/setup.sh (as root)");
  }
  json input;
  input["cases"] = json::array();
  for (const auto& c : cases) {
    input["cases"].push_back({{"cache", c.cache},
                              {"size", c.size},
                              {"blocksize", c.blocksize},
                              {"maxblocks", c.maxblocks},
                              {"parts", ToJson(c.parts)},
                              {"reads", ToJson(c.reads)}});
  }
  const auto dir = std::filesystem::temp_directory_path();
  const std::string tag = "pflab_fsspec_parity_" + std::to_string(getpid());
  const auto in_path = dir / (tag + ".json");
  const auto err_path = dir / (tag + ".err");
  std::ofstream(in_path) << input.dump();
  const std::string script = std::string(PFLAB_SOURCE_DIR) + "/tests/policies/fsspec_parity.py";
  const std::string command = python + " '" + script + "' '" + in_path.string() + "' 2>'" + err_path.string() + "'";
  std::string output;
  int status = -1;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[65536];
    std::size_t n = 0;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    status = pclose(pipe);
  }
  const std::string errors = ReadAll(err_path);
  std::filesystem::remove(in_path);
  std::filesystem::remove(err_path);
  if (status != 0) {
    FAIL("fsspec_parity.py failed (exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : status)
                                                 << "): " << errors
                                                 << "\nIs python3-fsspec installed? scripts/setup.sh installs it.");
  }
  const json parsed = json::parse(output);
  *version = parsed.at("fsspec_version").get<std::string>();
  std::vector<Outcome> outcomes;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const json& r = parsed.at("results").at(i);
    Outcome o;
    for (const auto& reqs : r.at("reads")) o.requests.push_back(RangesOf(reqs));
    o.lengths = r.at("lengths").get<std::vector<std::int64_t>>();
    // AllBytes fetches in its constructor; ours does it in the first read.
    const auto init = RangesOf(r.at("init"));
    if (!o.requests.empty()) o.requests[0].insert(o.requests[0].begin(), init.begin(), init.end());
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

// ---------------------------------------------------------------------------------------------------
// Read sequences

std::vector<ByteRange> MiBBlocks(std::initializer_list<int> ks) {
  std::vector<ByteRange> out;
  for (int k : ks) out.push_back({(k - 1) * kMiB, k * kMiB});
  return out;
}

// The reference sequences of research/gcsfs_fsspec.md section 2 (64 MiB file, 1 MiB reads).
std::vector<std::pair<std::string, std::vector<ByteRange>>> ReferenceSequences(std::uint64_t size) {
  return {
      {"seq 1..12", MiBBlocks({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})},
      {"backtrack", MiBBlocks({1, 2, 3, 4, 2, 5, 6, 7, 5})},
      {"visits home", MiBBlocks({1, 2, 1, 3, 1, 4, 1, 5})},
      {"parquet-ish",
       {{size - 8, size}, {size - 8 - 64 * kKiB, size - 8}, {0, 4}, {8 * kMiB, 12 * kMiB}, {30 * kMiB, 31 * kMiB}}}};
}

// `count` reads mixing sequential runs, backward jumps, re-reads, random seeks and reads near EOF, of
// lengths from a few bytes to a few blocks. All inside the file and non-empty.
std::vector<ByteRange> RandomReads(std::uint64_t size, std::uint64_t blocksize, std::uint32_t seed, int count) {
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
std::vector<ByteRange> BlockCacheAgreeing(std::vector<ByteRange> reads, std::uint64_t bs, std::uint64_t maxblocks) {
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
std::vector<ByteRange> InsideParts(const std::vector<ByteRange>& parts, std::uint64_t size, std::uint32_t seed,
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

std::vector<Case> ParityCases() {
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

std::string Show(const std::vector<ByteRange>& ranges) {
  std::string out = "[";
  for (const auto& r : ranges) out += " [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
  return out + " ]";
}

TEST_CASE("fsspec parity: our caches make the requests the real fsspec makes", "[fsspec][parity]") {
  const auto cases = ParityCases();
  std::string version;
  const auto theirs = RunFsspec(cases, &version);
  REQUIRE(theirs.size() == cases.size());
  INFO("fsspec " << version);
  std::size_t requests = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Outcome ours = RunOurs(c);
    REQUIRE(ours.requests.size() == c.reads.size());
    REQUIRE(theirs[i].requests.size() == c.reads.size());
    REQUIRE(theirs[i].lengths.size() == c.reads.size());
    for (std::size_t k = 0; k < c.reads.size(); ++k) {
      INFO(c.label << ", read " << k << " [" << c.reads[k].begin << ", " << c.reads[k].end << ")");
      REQUIRE(Show(ours.requests[k]) == Show(theirs[i].requests[k]));
      REQUIRE(ours.lengths[k] == theirs[i].lengths[k]);
      requests += ours.requests[k].size();
    }
  }
  // The comparison is not vacuous.
  CHECK(cases.size() > 100);
  CHECK(requests > 2000);
}

TEST_CASE("fsspec parity: the blockcache agreement filter keeps ends off block boundaries", "[fsspec][parity]") {
  const auto reads = BlockCacheAgreeing({{0, 10}, {5, 20}, {0, 100}, {10, 11}}, 10, 3);
  // Aligned ends move one byte earlier; [0, 100) is cut to three blocks, ending off the boundary.
  CHECK(reads == std::vector<ByteRange>{{0, 9}, {5, 19}, {0, 29}, {10, 11}});
}

}  // namespace
}  // namespace pflab::policies
