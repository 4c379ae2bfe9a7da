// `bound`: a lower bound on the elapsed time of any policy on a trace under a network profile, derived
// from the model (not found by search), so no policy, stack or plan can finish the trace faster.
//
// What the simulator guarantees (sim/sim_transport.h, sim/network_model.h, replay/replayer.h), and all
// the bound assumes:
//  (A1) A backend request (ranged fetch or stream) moves no byte before its first-byte latency has
//       passed, and every latency is at least the profile's floor L (latency_floor_ns(); the sampler
//       raises draws below it) plus its request_overhead_ns, which the simulator adds to every draw. A
//       failed request moves nothing and its retry pays another latency.
//  (A2) All transfers together move at most the link bandwidth R bytes per second (each active transfer
//       gets min(stream bandwidth, R / active)). The per-request cap and the connection limit do not
//       bound the total any further, because a policy may split a read into many requests and streams
//       take no connection (a profile with max_connections * stream bandwidth < R would allow a tighter
//       R if streams counted; the shipped profiles all have max_connections * stream bandwidth >= R).
//  (A3) Each (stream, object) pair has its own stack (a "handle"), built when the replayer first needs
//       it: at the stream's first read of the object, or at an earlier hint for it. The stacks of one
//       object may share data (`auto`'s streams read each other's), so a handle's bytes come from
//       requests some stack of its object issued, at or after that stack was built; stacks of other
//       objects hold other bytes. A policy delivers only bytes that arrived from the backend (checked
//       byte for byte by the tests with --verify-bytes; fsspec-parts, which zero-fills gaps, is outside
//       this and is excluded).
//  (A4) Closed loop (replay/replayer.h): a stream's first read is issued at T_s (its recorded issue time,
//       scaled by --think); read j+1 is issued think_{j+1} after read j is delivered (ThinkTime::Apply).
//       A hint placed before the stream's first read is delivered at min(T_s, its own scaled time);
//       one placed later is delivered no earlier than the delivery of the read before it. Elapsed is
//       the first read issued (T0 = min over streams of T_s) to the last read delivered.
//  (A5) Virtual time is integer nanoseconds, so a time at or after x is at or after ceil(x).
// Runs with failed reads are outside the bound (a read that fails delivers nothing).
//
// Derivation. Write I_j and D_j for the issue and delivery time of a stream's read j, C_h for the time
// handle h was built, and U_h(j) for the bytes of the union of the byte ranges (clipped to the object)
// of h's reads up to and including j.
//  1. Chain. D_j >= I_j, and I_{j+1} = D_j + think_{j+1} (A4).
//  2. Data. If U_h(j) > 0, every byte of U_h(j) has been delivered by D_j (reads of h before j were
//     delivered earlier), so it arrived by D_j. By (A3) those bytes came from requests issued at or
//     after C_o, the earliest C of the handles of h's object; by (A1) none arrived before C_o + L; by
//     (A2) at most R * (D_j - C_o - L) bytes arrived in between. So D_j >= C_o + L + U_h(j) / R. (For an
//     object one stream reads, C_o = C_h.)
//  3. Creation. C_h >= the lower bound of the time of its first use: the exact delivery time of a hint
//     placed before the stream's first read, the lower bound of D_{p-1} for a hint placed before read
//     p >= 1, or the lower bound of I_j for its first read j (A4).
//  Steps 1-3 give, stream by stream and read by read, lower bounds LB_I(j) and LB_D(j) (each a maximum
//  of valid lower bounds, so itself one), and the stream bound LB_D(last). Where several streams read
//  one object, LB(C_o) needs the other streams' creations: a first pass bounds every creation by the
//  chain without step 2 (D_j >= I_j only), and each further pass recomputes the chains with the
//  previous pass's LB(C_o), until nothing changes (at most 64 passes; every pass gives valid bounds,
//  never smaller than the one before).
//  4. Link. The link is one server of rate R for every object's bytes; object o's U_o bytes (the union
//     of its handles' reads) cannot start arriving before r_o = LB(C_o) + L. For any k, the bytes of the
//     objects with r_o >= r_k all arrive after r_k, at rate at most R, so the last of them arrives no
//     earlier than r_k + (sum of their U_o) / R; the largest over k is the link bound (the preemptive
//     single-machine makespan with release times, which a fluid link can reach).
//  5. The last read is delivered after every stream bound and after the link bound, so
//     elapsed >= max(max_s LB_D(last_s), link) - T0, rounded up to whole nanoseconds (A5) after taking
//     off kRoundingSlackNs for the simulator's floating-point rate bookkeeping.
//
// Tightness. With one read of B bytes at time 0 the bound is L + B / R: a plan that splits the read into
// ceil(R / stream bandwidth) equal requests, all issued at once, reaches it when every latency is the
// floor (tested: concurrent(parts=10) on a 2 GB/s link with 220 MB/s requests). `none` reaches it only
// when one request can fill the link (stream bandwidth >= R; tested too). Known slack: the bound treats
// latency as the floor for every request (real draws are larger: gcs-regional's median is 7x its floor);
// it lets every byte of a handle be requested the moment the handle exists (a real stack learns the
// future only from the reads and hints it has seen, and memory limits what it can hold); the chain and
// link parts are combined by a maximum, not interleaved; and a read whose bytes were all needed before
// waits nothing in the chain. It does not depend on the seed: the floor holds for every draw.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "replay/replayer.h"
#include "replay/simulation.h"
#include "sim/network_model.h"
#include "traces/trace.h"

namespace pflab::replay {

/// The name of the bound's row in every comparison (not a registered policy).
inline constexpr const char* kBoundPolicy = "bound";

/// Floating-point slack taken off the bound before rounding up: the simulator advances transfers in
/// doubles, which can finish a transfer a tiny fraction of a nanosecond before exact arithmetic would.
inline constexpr double kRoundingSlackNs = 0.01;

/// The bound and the parts it was taken from.
struct LowerBound {
  Nanos elapsed_ns = 0;            // the bound on elapsed (first read issued to last read delivered)
  Nanos stream_ns = 0;             // the largest stream bound (step 1-3), measured from T0
  std::uint32_t stream = 0;        // the trace's stream id that gives it
  Nanos link_ns = 0;               // the link bound (step 4), measured from T0
  std::uint64_t reads = 0;         // reads in the trace
  std::uint64_t bytes_read = 0;    // bytes the reads deliver (clipped to the objects)
  std::uint64_t bytes_needed = 0;  // sum over objects of the distinct bytes their reads need
  std::uint64_t handles = 0;       // (stream, object) pairs that need bytes
  Nanos latency_floor_ns = 0;      // L
  double link_bytes_per_s = 0;     // R

  /// "stream" or "link": which part gives the bound.
  const char* binding() const { return stream_ns >= link_ns ? "stream" : "link"; }
  nlohmann::json ToJson() const;
};

/// For byte ranges [first, second) taken in order, the size of the union of the first i + 1 of them,
/// for each i (empty ranges add nothing): U_h(j) of the derivation above.
std::vector<std::uint64_t> PrefixUnionSizes(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges);

/// The bound for `trace` replayed with `think` on `profile` (see above). Fails on a trace the replayer
/// would refuse (hints for a stream without reads).
Result<LowerBound> ComputeLowerBound(const traces::Trace& trace, const sim::NetworkProfile& profile, ThinkTime think);

/// The bound as a comparison row: policy kBoundPolicy, elapsed the bound, reads and bytes_read those of
/// the trace, bytes_fetched the bytes that must cross the link; every other metric 0 (not bounded).
/// The same for every seed; `seed` only labels the row.
Result<RunResult> BoundRun(const traces::Trace& trace, const std::string& profile_name,
                           const sim::NetworkProfile& profile, std::uint64_t seed, ThinkTime think);

}  // namespace pflab::replay
