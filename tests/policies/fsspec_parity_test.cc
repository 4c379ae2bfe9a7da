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
#include "tests/support/fsspec_parity_cases.h"
#include "tests/support/logging_source.h"

namespace pflab::policies {
namespace {

using nlohmann::json;
using parity::BlockCacheAgreeing;
using parity::Case;
using parity::Outcome;
using parity::ParityCases;
using parity::RunOurs;

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

// Reads past EOF (issue 16): fsspec's file hands its cache loc + length uncut, and BytesCache decides
// on that end ("more than one block past the buffer"). A trace keeps the length asked for, replay asks
// for it, the Reader cuts the read at EOF and passes the uncut end on (ReadPastEof).
TEST_CASE("fsspec parity: reads crossing EOF make the requests the real fsspec makes", "[fsspec][parity][eof]") {
  const std::uint64_t size = 1000003, bs = 65536;
  // The buffer ends 24,464 bytes before EOF; the next read asks 50,000 bytes past it. Uncut, its end is
  // more than a block past the buffer, so fsspec refetches from the read's start; cut at EOF it would
  // be within a block and appended instead.
  const std::vector<ByteRange> crafted = {{size - 100000, size - 90000}, {size - 50000, size + 50000}};
  std::vector<Case> cases;
  for (const char* cache : {"bytes", "readahead", "all"}) {
    cases.push_back({std::string(cache) + " crafted", cache, size, bs, 32, {}, crafted});
    for (std::uint32_t seed = 1; seed <= 4; ++seed) {
      for (const auto& [file_size, block] :
           std::vector<std::pair<std::uint64_t, std::uint64_t>>{{1000003, 65536}, {1048576, 65536}, {40000, 65536}}) {
        cases.push_back(
            {std::string(cache) + " past EOF seed " + std::to_string(seed) + " size " + std::to_string(file_size),
             cache,
             file_size,
             block,
             32,
             {},
             parity::PastEofReads(file_size, block, seed, 200)});
      }
    }
  }
  std::string version;
  const auto theirs = RunFsspec(cases, &version);
  REQUIRE(theirs.size() == cases.size());
  INFO("fsspec " << version);
  std::size_t past_eof = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Outcome ours = RunOurs(c);
    REQUIRE(ours.requests.size() == c.reads.size());
    REQUIRE(theirs[i].requests.size() == c.reads.size());
    for (std::size_t k = 0; k < c.reads.size(); ++k) {
      INFO(c.label << ", read " << k << " [" << c.reads[k].begin << ", " << c.reads[k].end << ")");
      REQUIRE(Show(ours.requests[k]) == Show(theirs[i].requests[k]));
      REQUIRE(ours.lengths[k] == theirs[i].lengths[k]);
      if (c.reads[k].end > c.size) ++past_eof;
    }
  }
  CHECK(past_eof > 100);
  // The crafted case's second read, as fsspec makes it: a refetch from the read's start.
  REQUIRE(Show(theirs[0].requests[1]) == Show({{size - 50000, size}}));
  // Cut at EOF before the cache sees it (what the trace used to keep), fsspec-bytes appends instead:
  // the uncut end is what makes it agree.
  Case cut = cases[0];
  cut.reads[1].end = size;
  CHECK(Show(RunOurs(cut).requests[1]) == Show({{size - 90000 + bs, size}}));
}

TEST_CASE("fsspec parity: the blockcache agreement filter keeps ends off block boundaries", "[fsspec][parity]") {
  const auto reads = BlockCacheAgreeing({{0, 10}, {5, 20}, {0, 100}, {10, 11}}, 10, 3);
  // Aligned ends move one byte earlier; [0, 100) is cut to three blocks, ending off the boundary.
  CHECK(reads == std::vector<ByteRange>{{0, 9}, {5, 19}, {0, 29}, {10, 11}});
}

}  // namespace
}  // namespace pflab::policies
