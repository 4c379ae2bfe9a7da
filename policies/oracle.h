// `oracle`: the best clairvoyant plan we know for one stream's reads of one object; the yardstick
// every comparison shows the others against. A policy that beats it is a bug report about it.
//
// It knows the stream's future reads and their think times (from the trace) and the network
// profile's distributions (latency median and 99th percentile, per-request and link bandwidth,
// connections), never the latency draws of the run. At construction it plans offline
// (policies/oracle_planner.h: candidate plans timed by a fluid network model over latency scenarios
// of its own; the plan, the model and the choice are described there); here the plan is carried out:
// - Regions are issued in plan order, at most `concurrency` in flight, each once `issue_after` reads
//   have been delivered (the memory budget, planned in read-index space). The first region starts at
//   the stream's first read or first hint, whichever comes first (a hint lets it start early, as
//   `arrow-coalesce(lazy=false)` does; the plan already knows what the hint says).
// - A stream region is one streaming GET pulled piece by piece; a piece arrives when the stream has
//   passed its end. Other regions are one ranged GET. Pieces no read needs (bridged holes) are
//   dropped on arrival; the others when their last read has been delivered.
// - A read is delivered when all its pieces are there. A read the trace did not announce is one GET
//   of its range, as asked. A piece whose request failed fails the read waiting on it; a later read
//   that needs it fetches it again on demand.
//
// Memory: `memory` (held plus in-flight bytes) is a hard budget when given. By default it is the
// larger of the largest peak memory of any policy in the same comparison (StackEnv /
// SimulationConfig comparison_peak_memory_bytes, so a budget never excuses losing to fsspec-all,
// which holds the whole object) and min(object size, 4 GiB): 4 GiB is twice the largest window of a
// registered streaming prefetcher (mountpoint-s3's 2 GiB), and a terabyte object still plans in RAM.
// The budget is per (stream, object) stack, or per object when several streams read it. A byte is fetched twice only
// when the budget could not keep it until its next read; those bytes are counted (MemoryAccount::AddRefetched, the
// run's `bytes_refetched`, which reports print as "refetched N bytes: memory budget").
//
// Several streams of one object (OracleContext::object_reads): their stacks plan all their reads of
// it together (the plan is over them in trace order) and share one execution, kept in the run's
// shared object: pieces, regions, budget. A read is served from pieces any of them holds or has in
// flight; a region is fetched by the stack of the stream that needs it first (its fetcher counts the
// bytes, once); a piece goes once every read up to its last use is over. A stack that dies leaves
// its pieces in flight to a stack whose read waits on them, which fetches them itself.
//
// The layer issues several requests at once, so it sits directly on the fetcher (`concurrent`).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "policies/oracle_planner.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of oracle: each left unset is chosen (memory: see above; the rest by the planner).
struct OracleOptions {
  std::optional<std::uint64_t> memory;       // held + in-flight bytes: a hard budget
  std::optional<std::uint64_t> request;      // region size (OracleShape::kWhole / kParts allowed)
  std::optional<std::uint64_t> gap;          // holes up to this are fetched (kEverything allowed)
  std::optional<std::uint32_t> concurrency;  // regions in flight
  bool operator==(const OracleOptions&) const = default;
};

/// The `oracle` entry.
PolicyEntry OracleEntry();

/// What the oracle knows of the run besides its reads.
struct OracleContext {
  std::shared_ptr<const std::vector<ByteRange>> future;  // this stack's reads, in order
  std::shared_ptr<const std::vector<Nanos>> think;       // think time before each (may be null)
  NetworkSummary network;
  std::uint64_t comparison_peak_memory_bytes = 0;  // 0: unknown
  bool shared_run = false;                         // other stacks share the run
  MemoryAccount* account = nullptr;                // where refetched bytes are counted (may be null)
  // Every stream's reads of this object when several streams read it (else null), and where the
  // stacks of the object meet: they plan those reads together and share their bytes (see above).
  std::shared_ptr<const std::vector<StreamRead>> object_reads;
  RunShared* run = nullptr;
  std::string object_key;
};

/// The oracle over the reads `context.future` (this stream's reads of this object, in order).
class Oracle final : public PolicyLayer {
 public:
  Oracle(LayerContext ctx, Source* lower, OracleOptions options, OracleContext context);
  ~Oracle() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  void Hint(std::span<const ByteRange> ranges) override;
  const char* name() const override { return "oracle"; }

  const OraclePlan& plan() const { return g_->plan; }
  /// The budget the plan was made with.
  std::uint64_t memory() const { return memory_; }

 private:
  enum class PieceState : std::uint8_t { kWaiting, kInFlight, kHeld, kDropped, kFailed };
  struct Piece {
    PieceState state = PieceState::kWaiting;
    Slices data;
  };
  struct Region {
    Oracle* issuer = nullptr;         // the stack whose requests carry it (its fetcher counts the bytes)
    ReadId fetch = 0;                 // the GET in flight, or
    StreamId stream = 0;              // the stream open
    std::uint32_t carrying = kNoUse;  // the region whose pieces the stream pulls now: itself or one taken over
    std::uint32_t next_piece = 0;     // the next of those pieces to pull
    std::uint64_t position = 0;       // the next byte the stream gives
    bool issued = false;
    bool started = false;     // its stream has delivered a first byte (or had no predecessor to wait for)
    bool taken_over = false;  // its predecessor's stream carries its pieces
    Slices probe;             // the first byte, pulled alone so that a stream not started holds no byte
  };
  // The plan and its execution: one stack's own, or shared by the stacks of an object that several
  // streams read (then the plan is over all their reads, in trace order, "union reads").
  struct Group {
    OraclePlan plan;
    std::vector<Piece> pieces;
    std::vector<Region> regions;
    std::vector<std::uint32_t> drop_begin;  // pieces whose last use is read i: drop_pieces[drop_begin[i], ..[i+1])
    std::vector<std::uint32_t> drop_pieces;
    std::vector<std::uint32_t> region_stream;  // by region: the stream of the first read that needs it
    std::vector<char> done;                    // by union read: delivered, failed or cancelled
    std::vector<Oracle*> members;              // live stacks, in the order they were built
    std::uint64_t left = 0;                    // stacks that have left members (destroyed)
    bool shared = false;
    bool started = false;
    std::uint32_t next_region = 0;
    std::uint32_t in_flight = 0;  // regions
    std::uint32_t delivered = 0;  // union reads before the first one not done
  };

  void Start();
  void IssueRegions();
  void IssueRegion(std::uint32_t index);
  void PullNext(std::uint32_t index);
  void OnProbe(std::uint32_t index, Result<Slices>&& result);
  void OnPulled(std::uint32_t index, std::uint32_t piece, Result<Slices>&& result);
  void OnRegionFetched(std::uint32_t index, Result<Slices>&& result);
  void CloseRegionStream(std::uint32_t index);
  void FailCarried(std::uint32_t index, std::uint32_t from_piece, const Error& error);
  void Store(std::uint32_t piece, Slices&& data);
  void Fail(std::uint32_t piece, const Error& error);
  void Refetch(std::uint32_t piece);      // a failed piece, fetched again on demand (by this stack)
  bool Needs(std::uint32_t piece) const;  // the announced read waiting here needs it
  void TryComplete();                     // every stack of the group
  void TryCompleteOwn();                  // this stack's read
  void MarkDone(std::uint32_t use);
  // The announced read is over (delivered, failed or cancelled): its last-use pieces go, regions
  // may start. Returns its callback, for the caller to run.
  ReadCallback Finish();

  std::shared_ptr<const std::vector<ByteRange>> future_;
  std::vector<std::uint32_t> uses_;  // by own read: its index among the plan's reads
  MemoryAccount* account_;
  std::uint64_t memory_;
  std::shared_ptr<Group> g_;
  std::uint32_t next_read_ = 0;  // index in future_ of the next announced read
  ReadId next_id_ = 1;
  // The read from above waiting for its bytes (one at a time).
  ReadId pending_id_ = 0;
  ByteRange pending_range_;
  std::uint32_t pending_use_ = kNoUse;  // its index among the plan's reads, or kNoUse when not announced
  ReadCallback pending_done_;
  std::optional<Error> pending_error_;
  ReadId on_demand_ = 0;                                     // the GET of an unannounced read
  std::vector<std::pair<std::uint32_t, ReadId>> refetches_;  // (piece, GET) of failed pieces fetched again
};

}  // namespace pflab::policies
