// `oracle`: a prefetcher that knows every read its stream will make, the bound reports show real
// policies against.
//
// It is given the stream's future reads of the object (from the trace) and, as soon as memory allows,
// fetches the bytes they need in the order they will be needed: walking the future reads, the bytes
// not yet held or in flight are collected into requests, a request growing while the next needed
// byte is within `gap` of its end (fetching a small hole costs less than another request's latency:
// with gcs-regional's 35 ms and 220 MB/s a request costs as much as ~7.7 MB of transfer, so 4 MiB is a
// safe default) and while it stays under `request` bytes (large enough to amortize latency, small
// enough to spread over connections). Fetched bytes are kept until the last planned read that uses
// them, then dropped. Planning stops while held plus in-flight bytes would exceed `memory`, and
// resumes as reads consume data. A read that finds bytes neither held nor in flight (a read the trace
// did not announce, or after a failed fetch) fetches them at once.
//
// How close to optimal: every byte is requested as early as the memory cap allows, in need order, and
// a byte is fetched once while it is reused within the planning horizon, so with enough memory and
// connections the elapsed time approaches the network's transfer time of the needed bytes plus one
// first-byte latency. It is not a proven lower bound: the merge rule is greedy with fixed `gap` and
// `request` (not optimized per network profile), a byte reused after it left the horizon is fetched
// again, and a single huge read still waits on its own transfer. A policy can beat it only by luck of
// latency draws or by memory the oracle was not given; reports show the ratio to it.
//
// The layer issues several requests at once, so it sits directly on the fetcher (`concurrent`).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// Parameters of oracle.
struct OracleOptions {
  std::uint64_t memory = 256ull << 20;  // held + in-flight bytes
  std::uint64_t request = 16ull << 20;  // largest request
  std::uint64_t gap = 4ull << 20;       // holes up to this are fetched rather than split around
  bool operator==(const OracleOptions&) const = default;
};

/// The `oracle` entry.
PolicyEntry OracleEntry();

/// The oracle prefetcher over the reads `future` (this stream's reads of this object, in order).
class Oracle final : public PolicyLayer {
 public:
  Oracle(LayerContext ctx, Source* lower, OracleOptions options, std::shared_ptr<const std::vector<ByteRange>> future);
  ~Oracle() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "oracle"; }

 private:
  struct Piece {  // held bytes [begin, end)
    std::uint64_t end;
    Slices data;
    std::size_t last_use;  // index of the last planned read that needs it
  };
  struct Flight {  // requested bytes [begin, end)
    std::uint64_t end;
    ReadId lower;
    std::size_t last_use;
  };

  void Plan();
  // The parts of `range` neither held nor in flight; marks what overlaps with `use` as its last use.
  std::vector<ByteRange> Missing(ByteRange range, std::size_t use);
  void Issue(ByteRange range, std::size_t last_use);
  void OnFetched(std::uint64_t begin, Result<Slices>&& result);
  void TryComplete();
  void DropBefore(std::size_t use);
  std::uint64_t Outstanding() const { return held_ + in_flight_; }

  OracleOptions options_;
  std::shared_ptr<const std::vector<ByteRange>> future_;
  std::size_t next_read_ = 0;  // index in future_ of the next read from above
  std::size_t planned_ = 0;    // future_[0, planned_) have their bytes requested
  std::map<std::uint64_t, Piece> pieces_;
  std::map<std::uint64_t, Flight> flights_;
  std::uint64_t held_ = 0;
  std::uint64_t in_flight_ = 0;
  ReadId next_id_ = 1;
  // The read from above waiting for its bytes (one at a time).
  ReadId pending_id_ = 0;
  ByteRange pending_range_;
  std::size_t pending_use_ = 0;
  bool pending_announced_ = false;  // the read was the next one of `future_`
  ReadCallback pending_done_;
  std::optional<Error> pending_error_;
};

}  // namespace pflab::policies
