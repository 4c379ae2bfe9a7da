// The oracle's offline planner: from one stream's future reads of one object, the requests to make,
// when to make them, and how long to keep each byte.
//
// A plan is a list of *regions* (backend requests) in issue order. A region larger than a
// millisecond of transfer is a stream, pulled in *pieces* that end where reads end, so a read waits
// for its own bytes and not for the whole region; a smaller one is one ranged GET (one piece).
// Every piece knows the last read that needs it and is dropped after that read. A region may be
// issued once `issue_after` reads have been delivered: that is how the memory budget is kept.
//
// Building a plan of a given *shape* (gap, region size, regions in flight) is a walk over the reads
// in order, in read-index space (what is held depends only on which reads are done, never on time):
// - The next *batch* of reads is the longest run whose missing bytes (not held, not planned) fit in
//   the free budget. Once something is outstanding, a batch waits until a quarter of the budget is
//   free, so batches stay large and coalesce well. With enough memory the first batch is every read.
// - The batch's missing bytes, sorted by offset, merge across holes up to `gap` (never across bytes
//   held: those are not fetched again) into spans; a span is cut into regions (whole, in `parts`
//   equal parts, or in `region`-byte pieces); regions are issued in the order of the first read that
//   needs them, the first one therefore holding the stream's first read.
// - Bytes still held when a later batch needs them are kept (their last use moves on). Bytes
//   dropped before a later read needs them are fetched again: only when the budget could not keep
//   them, and counted in `refetched_bytes`.
//
// Choosing the shape: candidates cross gaps {0, BDP/8, BDP, 8 BDP, everything} (BDP, the bandwidth-
// delay product, is per-request bandwidth x median latency: a hole smaller than it costs less to
// transfer than a second request's latency), regions {whole span, one part per full-rate request,
// 16, 4, 1 MiB}, and regions in flight {link/per-request bandwidth, max connections}. Each plan is
// timed by a fluid model of the network (below) under 48 latency scenarios drawn from the profile's
// distribution with the planner's own seeds (the planner knows the distribution, never the run's
// draws). The plans whose worst regret (time over the best candidate's in the same scenario) is
// within 2% of the smallest are kept: a plan whose time hinges on one slow first byte has a large
// regret where that draw is slow. Of those the fastest on average wins (with other stacks in the run:
// the fewest requests within a median latency of it; see PlanOracle). Long traces are judged on their
// first 20,000 reads (the shape carries over); the chosen shape is then planned over every read.
//
// The model: region j opens at the later of its batch's issue point and a free slot (at most
// `concurrency` in flight, FIFO), waits a drawn latency, then moves its bytes at
// min(per-request bandwidth, link / min(concurrency, regions)); a piece is there when the stream
// passes its end (a GET: when the whole region is there); read i is delivered at the later of its
// issue (previous delivery plus think time) and its pieces' arrival. It ignores failures and the
// other objects of the trace (each object plans alone, assuming the link to itself). With several
// streams' reads (OraclePlanRequest::previous), read i is issued when its own stream's previous read
// is delivered, and a region issued after k reads opens once reads [0, k) are all delivered.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/byte_range.h"
#include "engine/scheduler.h"
#include "policies/network_summary.h"

namespace pflab::policies {

/// A plan's shape.
struct OracleShape {
  std::uint64_t gap = 0;          // holes up to this are fetched; kEverything: one span per batch
  std::uint64_t region = 0;       // kWhole: spans uncut; kParts: `concurrency`-way split; else bytes
  std::uint32_t concurrency = 0;  // regions in flight
  bool cuts = false;              // regions also begin at OraclePlanRequest::cuts
  static constexpr std::uint64_t kEverything = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::uint64_t kWhole = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::uint64_t kParts = std::numeric_limits<std::uint64_t>::max() - 1;
  std::string ToString() const;
};

/// What the planner is asked.
struct OraclePlanRequest {
  std::uint64_t object_size = 0;
  std::uint64_t memory = 0;  // held plus in-flight bytes
  NetworkSummary network;
  bool shared_run = false;  // other (stream, object) stacks share the run
  // By read: the previous read of the same stream (kNoUse: its first), when the reads are several
  // streams' (in trace order); empty: one stream, read i follows read i - 1. The model issues a read
  // when its stream's previous read is delivered, so the streams' reads overlap as they will.
  std::vector<std::uint32_t> previous;
  // Offsets where a region must begin (sorted): where each of several streams starts reading, so
  // that each stream's first bytes head a request of their own as they would planned alone.
  std::vector<std::uint64_t> cuts;
  // Fields given here are not searched (tests, and `oracle(gap=..., request=..., concurrency=...)`).
  std::optional<std::uint64_t> gap;
  std::optional<std::uint64_t> region;
  std::optional<std::uint32_t> concurrency;
};

inline constexpr std::uint32_t kNoUse = std::numeric_limits<std::uint32_t>::max();

/// One backend request of a plan.
struct PlannedRegion {
  ByteRange range;
  bool stream = false;            // pulled piece by piece; else one ranged GET
  std::uint32_t issue_after = 0;  // reads delivered before it may be issued
  std::uint32_t first_piece = 0;  // its pieces, [first_piece, end_piece), in offset order
  std::uint32_t end_piece = 0;
  std::uint64_t refetched_bytes = 0;  // of its bytes, those an earlier region fetched already
  // Stream regions cut from one span form a chain in offset order. A region's stream may go on to
  // `stream_end` (the chain's end) and take over its successor's bytes if the successor has not
  // received its first byte by the time this stream reaches it (see oracle.h).
  std::uint32_t predecessor = kNoUse;
  std::uint32_t successor = kNoUse;
  std::uint64_t stream_end = 0;
};

/// Bytes that arrive together: one pull of a stream, or a whole GET.
struct PlannedPiece {
  ByteRange range;
  std::uint32_t region = 0;
  std::uint32_t last_use = kNoUse;  // the last read that needs it; kNoUse: none (a bridged hole)
};

/// The oracle's plan for one stream's reads of one object.
struct OraclePlan {
  std::vector<PlannedRegion> regions;  // in issue order
  std::vector<PlannedPiece> pieces;
  // Read i needs pieces read_pieces[read_begin[i], read_begin[i + 1]).
  std::vector<std::uint32_t> read_begin;
  std::vector<std::uint32_t> read_pieces;
  OracleShape shape;
  std::uint64_t refetched_bytes = 0;  // fetched again because the budget could not keep them
  std::uint64_t peak_bytes = 0;       // most bytes held or in flight, as planned
  double estimated_s = 0;             // the model's mean over its scenarios
};

/// Plans `reads` (clamped to the object; `think[i]` is the think time before read i, or empty).
OraclePlan PlanOracle(std::span<const ByteRange> reads, std::span<const Nanos> think, const OraclePlanRequest& request);

/// Builds the plan of one shape (no search); exposed for tests.
OraclePlan BuildOraclePlan(std::span<const ByteRange> reads, const OracleShape& shape,
                           const OraclePlanRequest& request);

/// The model's elapsed time of a plan with the given first-byte latencies (region j gets
/// latencies[j % size]); exposed for tests.
double ModelOraclePlan(const OraclePlan& plan, std::span<const ByteRange> reads, std::span<const Nanos> think,
                       const NetworkSummary& network, std::span<const double> latencies_s);

}  // namespace pflab::policies
