// Acceptance of `auto` (issue 15): the whole comparison in the simulator (every corpus trace and every
// generator pattern at three sizes, against every anchor, seeds 1-5, three network profiles), memory
// within the budgets by the engine's accounts, every byte checked in the simulator and against the
// fake server, and determinism. The whole of it is `make test-auto` (tag [auto-acceptance], hidden
// from `make test`); `make test` runs the slice at the end of this file.
//
// Set PFLAB_AUTO_REPORT=FILE to have the comparison's table written there (reports/findings/auto.md
// quotes it).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "engine/units.h"
#include "policies/auto_prefetcher.h"
#include "replay/simulation.h"
#include "tests/support/auto_evaluation.h"
#include "tests/support/run_config.h"

namespace pflab::testing {
namespace {

using auto_eval::Cell;

const std::vector<std::string> kProfiles{"gcs-regional", "gcs-cross-region", "local-fast"};
const std::vector<std::uint64_t> kSeeds{1, 2, 3, 4, 5};
const policies::AutoOptions kDefaults;

// Cells where auto does not meet the issue's target, and why (reports/findings/auto.md, "Failure
// cases"). Each must still fail (an entry that passes is stale and fails the test); the rest must pass.
struct KnownFailure {
  std::string profile;
  std::string trace;
  // "memory": the fastest anchor held more than auto's per-file budget; auto is then held to the
  // target against the fastest anchor that stayed within it. "target": an open miss.
  std::string kind;
};
const std::vector<KnownFailure> kKnownFailures{
    // fsspec-all holds the whole 1 GiB object; within 256 MiB at most a quarter of the uniformly
    // random reads can find their block held, and each of the others waits for a first byte.
    {"gcs-regional", "random", "memory"},
    {"gcs-cross-region", "random", "memory"},
    // A real trace recorded after tuning: qemu-img converts a 506 MiB qcow2 image, reading all of it
    // on five threads in an order the image's layout scatters. fsspec-all fetches it whole once per
    // thread (4.5 GiB); within 256 MiB per open file nothing holds it whole, and auto, faster than
    // every anchor that stays within the budget, still pays a first byte per read.
    {"gcs-regional", "qcow2_convert", "memory"},
    {"gcs-cross-region", "qcow2_convert", "memory"},
    // Open misses (issue 15; reports/findings/auto.md, "Failure cases"). `mix` on local-fast: as fast
    // as the fastest anchor (fsspec-first, 1.6 MiB) with several times its bytes: the first part of
    // each of two hinted 136 MiB ranges (a reader that then reads 0.4 MiB of them), and 64 KiB
    // minimum requests for reads of a few bytes (without hints still 2.2x its bytes).
    {"local-fast", "mix", "target"},
    // Faster than the fastest anchor but with more than 1.5x its bytes: readers that read back to
    // back, whose runs' windows (bounded by `ahead` times the run and by what fills the link) run
    // past where the runs stop, and the first-read bet on the whole object, called off after 1 ms.
    // (`unzip_subset`, a reader that pauses, passes since windows follow the reader's pace.)
    // `footer-then-columns` passed from when the link's bandwidth was measured from what it delivered
    // until that measure came to start at the requests' first bytes (which made it see slow links):
    // 0.47x the fastest anchor's time, 1.71x its bytes.
    {"local-fast", "footer-then-columns-small", "target"},
    {"local-fast", "footer-then-columns", "target"},
    {"local-fast", "visits-home-small", "target"},
    // A real trace recorded after tuning (ffprobe and five ffmpeg thumbnails of a 59.5 MiB MP4): on
    // gcs-cross-region the object arrives within a first byte or two at the link's bandwidth, so it is
    // fetched whole (by the first read's bet, or without it at the next new cursor), and auto is as
    // fast as the bound and the oracle, at 5.3x the bytes of gcsfuse, the fastest anchor (1.37x the
    // time), of a file the reader reads 4% of.
    {"gcs-cross-region", "video_thumbnails", "target"},
    // A real trace recorded after tuning (unsquashfs extracting files from a SquashFS image: 35
    // requests, a few first bytes in a row): 1.22x the fastest anchor's time (fsspec-background),
    // 1.07x before the network estimate came to measure first bytes apart from transfers; over seeds
    // 1-5 the elapsed spans 0.35-0.56 s, a few first bytes of the cross-region tail.
    {"gcs-cross-region", "squashfs_extract", "target"},
    // A real trace recorded after tuning (debugfs reading files out of a 223 MiB ext4 image, 8 MiB
    // read in 4 KiB blocks by six processes), all three cells missed by bytes at 0.72-0.85x the
    // fastest anchor's time: on the GCS profiles the ski rental buys the whole image (on 4 of 5 seeds
    // on regional, all 5 on cross-region; with the rental off about 75-79 MiB are fetched), 2.1x the
    // bytes of fsspec-blockcache, and on local-fast the run windows of a reader that reads block
    // after block run on past its files (2.6x gcsfuse's bytes), as on the three local-fast cells
    // above.
    {"gcs-regional", "ext4_image", "target"},
    {"gcs-cross-region", "ext4_image", "target"},
    {"local-fast", "ext4_image", "target"},
    // A real trace recorded after tuning (samtools answering region queries on a 265 MiB BAM file, 34
    // processes one after another): met on the GCS profiles (0.69-0.72x the fastest anchor's time), on
    // local-fast as fast as linux-readahead, the fastest anchor, at 3.7x its bytes: every process is a
    // new stream with no runs behind it, so each locus' run, confirmed after one block, gets a window of
    // at least a part (2 MB there) where most loci are one to three blocks of 27 KiB.
    {"local-fast", "bam_regions", "target"},
};

const KnownFailure* Known(const Cell& c) {
  for (const auto& k : kKnownFailures) {
    if (k.profile == c.profile && k.trace == c.trace) return &k;
  }
  return nullptr;
}

std::vector<traces::Trace> AllTraces() {
  std::vector<traces::Trace> out = auto_eval::CorpusTraces();
  for (auto& t : auto_eval::PatternTraces()) out.push_back(std::move(t));
  return out;
}

std::vector<const traces::Trace*> Pointers(const std::vector<traces::Trace>& traces) {
  std::vector<const traces::Trace*> out;
  for (const auto& t : traces) out.push_back(&t);
  return out;
}

void CheckMemoryAndReads(const std::map<auto_eval::Key, auto_eval::Median>& results, const std::string& policy) {
  for (const auto& [key, m] : results) {
    if (std::get<2>(key) != policy) continue;
    INFO(std::get<0>(key) << " / " << std::get<1>(key));
    CHECK(m.peak_file_memory <= kDefaults.memory);
    CHECK(m.peak_memory <= kDefaults.shared_memory);
    CHECK(m.reads_failed == 0);
  }
}

TEST_CASE("auto acceptance: within 1.10x of the fastest anchor, 1.5x its bytes, 1.02x none; geomean",
          "[.][auto-acceptance]") {
  const std::vector<traces::Trace> traces = AllTraces();
  const std::vector<std::string> anchors = auto_eval::Anchors();
  std::vector<std::string> policies = anchors;
  policies.push_back("auto");
  policies.push_back("oracle");
  const auto results = auto_eval::Run(Pointers(traces), policies, kProfiles, kSeeds);
  const std::vector<Cell> cells = auto_eval::Judge(results, anchors, "auto", kDefaults.memory);
  REQUIRE(cells.size() == traces.size() * kProfiles.size());

  double best_single = 1e300;
  std::string best_name;
  for (const auto& a : anchors) {
    const double g = auto_eval::GeomeanVsOracle(results, a);
    if (g < best_single) best_single = g, best_name = a;
  }
  const double mine = auto_eval::GeomeanVsOracle(results, "auto");
  int passed = 0;
  for (const Cell& c : cells) passed += c.ok() ? 1 : 0;
  std::ostringstream summary;
  summary << cells.size() << " cells (" << traces.size() << " traces x " << kProfiles.size() << " profiles), "
          << anchors.size() << " anchors, seeds 1-5: auto meets the target on " << passed << "\n"
          << "geomean of elapsed / oracle: auto " << mine << ", best single anchor (" << best_name << ") "
          << best_single << ", ratio " << mine / best_single << "\n";
  std::cout << summary.str() << auto_eval::Table(cells);
  if (const char* path = std::getenv("PFLAB_AUTO_REPORT")) {
    std::ofstream out(path);
    out << summary.str() << "\n" << auto_eval::Table(cells);
  }

  CheckMemoryAndReads(results, "auto");
  for (const Cell& c : cells) {
    INFO(c.profile << " / " << c.trace << ": auto " << c.candidate.elapsed_s << " s, " << c.candidate.bytes_fetched
                   << " B; fastest " << c.fastest << " " << c.best.elapsed_s << " s, " << c.best.bytes_fetched
                   << " B; none " << c.none.elapsed_s << " s");
    if (const KnownFailure* k = Known(c)) {
      CHECK_FALSE(c.ok());  // still a failure, else the entry is stale
      if (k->kind == "memory") {
        CHECK(c.best.peak_file_memory > kDefaults.memory);
        INFO("fastest within the budget: " << c.fastest_within << " " << c.best_within.elapsed_s << " s");
        CHECK(c.candidate.elapsed_s <= 1.10 * c.best_within.elapsed_s);
        CHECK(c.candidate.bytes_fetched <= 1.5 * c.best_within.bytes_fetched);
      }
      continue;
    }
    CHECK(c.time_ok);
    CHECK(c.bytes_ok);
    CHECK(c.none_ok);
  }
  CHECK(mine <= 0.75 * best_single);
}

TEST_CASE("auto acceptance: every byte of every pattern is right in the simulator", "[.][auto-acceptance]") {
  const std::vector<traces::Trace> traces = auto_eval::PatternTraces();
  const auto results = auto_eval::Run(Pointers(traces), {"auto"}, kProfiles, {1}, replay::TransportKind::kSim,
                                      /*verify_bytes=*/true);
  CHECK(results.size() == traces.size() * kProfiles.size());
  CheckMemoryAndReads(results, "auto");
}

TEST_CASE("auto acceptance: every byte is right against the fake GCS server", "[.][auto-acceptance]") {
  // The real engine and HTTP in real time, so the smaller objects, on the loopback profile.
  std::vector<traces::Trace> traces;
  for (auto& t : auto_eval::PatternTraces()) {
    if (t.name.find("-small") != std::string::npos) traces.push_back(std::move(t));
  }
  for (auto& t : auto_eval::CorpusTraces()) {
    if (t.name == "sqlite_indexed" || t.name == "parquet_columns" || t.name == "unzip_subset") {
      traces.push_back(std::move(t));
    }
  }
  const auto results = auto_eval::Run(Pointers(traces), {"auto"}, {"local-fast"}, {1}, replay::TransportKind::kFake,
                                      /*verify_bytes=*/true);
  CHECK(results.size() == traces.size());
  CheckMemoryAndReads(results, "auto");
}

// Every event of a run, to compare two runs.
struct Recorder final : EventSink {
  std::vector<Event> events;
  void OnEvent(const Event& e) override { events.push_back(e); }
};

bool SameEvents(const std::vector<Event>& a, const std::vector<Event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Event& x = a[i];
    const Event& y = b[i];
    if (x.t_ns != y.t_ns || x.type != y.type || std::string(x.layer) != y.layer || x.stream != y.stream ||
        x.offset != y.offset || x.length != y.length || x.bytes != y.bytes) {
      return false;
    }
  }
  return true;
}

void CheckDeterministic(const traces::Trace& trace, const std::string& profile) {
  Recorder first, second;
  replay::SimulationConfig config = RunConfig(trace, "auto", profile);
  config.verify_bytes = false;
  config.seed = 3;
  config.event_log = &first;
  auto a = replay::RunSimulation(config);
  config.event_log = &second;
  auto b = replay::RunSimulation(config);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  INFO(trace.name << " / " << profile);
  CHECK(first.events.size() > 0);
  CHECK(SameEvents(first.events, second.events));
  CHECK(a->metrics.elapsed_s == b->metrics.elapsed_s);
  CHECK(a->metrics.bytes_fetched == b->metrics.bytes_fetched);
  CHECK(a->events_run == b->events_run);
}

TEST_CASE("auto acceptance: the same seed gives the same event log", "[.][auto-acceptance]") {
  for (const auto& t : AllTraces()) {
    for (const auto& p : kProfiles) CheckDeterministic(t, p);
  }
}

// ---- the slice `make test` runs: a few traces and anchors, seeds 1-3, one profile ----

TEST_CASE("auto acceptance slice: the target on a few traces, memory, bytes and determinism",
          "[policies][auto][acceptance-slice]") {
  std::vector<traces::Trace> traces;
  for (auto& t : auto_eval::CorpusTraces()) {
    if (t.name == "sqlite_indexed" || t.name == "tar_list" || t.name == "parquet_columns") {
      traces.push_back(std::move(t));
    }
  }
  for (auto& t : auto_eval::PatternTraces()) {
    if (t.name == "visits-home" || t.name == "backtrack-huge" || t.name == "random-huge" ||
        t.name == "parquet-hinted" || t.name == "footer-then-columns-small" || t.name == "multi-stream-small") {
      traces.push_back(std::move(t));
    }
  }
  REQUIRE(traces.size() == 9);
  // The anchors that are fastest somewhere on these traces, and none.
  const std::vector<std::string> anchors{"none",
                                         "fsspec-all",
                                         "gcsfuse-buffered",
                                         "fsspec-blockcache > gcsfs-adaptive",
                                         "mountpoint-s3",
                                         "arrow-coalesce(lazy=false)",
                                         "fsspec-readahead"};
  std::vector<std::string> policies = anchors;
  policies.push_back("auto");
  policies.push_back("oracle");
  const auto results = auto_eval::Run(Pointers(traces), policies, {"gcs-regional"}, {1, 2, 3});
  CheckMemoryAndReads(results, "auto");
  for (const Cell& c : auto_eval::Judge(results, anchors, "auto", kDefaults.memory)) {
    INFO(c.trace << ": auto " << c.candidate.elapsed_s << " s, " << c.candidate.bytes_fetched << " B; fastest "
                 << c.fastest << " " << c.best.elapsed_s << " s, " << c.best.bytes_fetched << " B");
    CHECK(c.ok());
  }
  // Every byte, in the simulator, on the small and the corpus traces.
  for (const auto& t : traces) {
    if (t.objects[0].size > 256 * kMiB) continue;
    replay::SimulationConfig config = RunConfig(t, "auto");
    auto r = replay::RunSimulation(config);
    INFO(t.name);
    REQUIRE(r.ok());
    CHECK(r->metrics.reads_failed == 0);
  }
  CheckDeterministic(traces[0], "gcs-regional");
  CheckDeterministic(traces.back(), "gcs-regional");  // multi-stream-small: streams sharing one object
}

// Off the acceptance's profiles: gcs-regional with its link cut to 12.5 MB/s
// (reports/findings/slow_links.profiles.json; auto.md, "On links slower than the profiles"). On two
// real traces the first read bets on a whole object the link needs seconds for (a 234 MB disk image, a
// 59.5 MiB video). With first bytes and transfers measured apart, the bet is called off at its first
// response; with the old fitted estimate (a 1 GB/s link) it stood: 18.9 s and 224.5 MiB on the image
// against gcsfuse's 1.5 s and 13.9 MiB, 5.1 s and 60 MiB on the video against its 0.9 s.
TEST_CASE("auto acceptance slice: on a 12.5 MB/s link a whole-object bet the link cannot carry is called off",
          "[policies][auto][acceptance-slice]") {
  std::vector<traces::Trace> traces;
  for (auto& t : auto_eval::CorpusTraces()) {
    if (t.name == "ext4_image" || t.name == "video_thumbnails") traces.push_back(std::move(t));
  }
  REQUIRE(traces.size() == 2);
  const std::vector<std::string> anchors{"none", "gcsfuse", "fsspec-all", "fsspec-blockcache"};
  std::vector<std::string> policies = anchors;
  policies.push_back("auto");
  policies.push_back("oracle");
  const std::string file =
      (std::filesystem::path(PFLAB_SOURCE_DIR) / "reports" / "findings" / "slow_links.profiles.json").string();
  const auto results =
      auto_eval::Run(Pointers(traces), policies, {"link-12MB"}, {1, 2, 3}, replay::TransportKind::kSim, false, file);
  CheckMemoryAndReads(results, "auto");
  for (const Cell& c : auto_eval::Judge(results, anchors, "auto", kDefaults.memory)) {
    INFO(c.trace << ": auto " << c.candidate.elapsed_s << " s, " << c.candidate.bytes_fetched << " B; fastest "
                 << c.fastest << " " << c.best.elapsed_s << " s, " << c.best.bytes_fetched << " B");
    CHECK(c.fastest == "gcsfuse");
    // Measured: the image at 0.94x gcsfuse's time and 1.26x its bytes, the video 1.33x and 1.65x
    // (seeds 1-5); the bounds leave room for a change of the defaults, not for a bet that stands.
    CHECK(c.candidate.elapsed_s <= 1.5 * c.best.elapsed_s);
    CHECK(c.candidate.bytes_fetched <= 2.0 * c.best.bytes_fetched);
  }
}

}  // namespace
}  // namespace pflab::testing
