// The seam between the engine and the network: simulated, fake GCS, or live GCS.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "engine/buffer.h"
#include "engine/byte_range.h"
#include "engine/inline_function.h"
#include "engine/result.h"

namespace pflab {

/// Identifies an in-flight fetch for cancellation; 0 is never valid.
using FetchId = std::uint64_t;

/// Where a fetch writes its bytes: `[offset, offset + range.size())` of `chunk`.
struct FetchTarget {
  std::shared_ptr<Chunk> chunk;
  std::uint64_t offset = 0;
};

/// How a fetch ended. On failure `bytes_received` tells how far the body got, so a broken stream can
/// resume from there.
struct FetchOutcome {
  Status status;
  std::uint64_t bytes_received = 0;
};

/// One backend GET of a byte range. Completions are delivered on the engine's Scheduler thread, never
/// from inside Fetch() or Cancel(), exactly once per fetch (a cancelled fetch completes with kCancelled).
class Transport {
 public:
  using FetchCallback = InlineFunction<void(const FetchOutcome&), 48>;

  virtual ~Transport() = default;
  /// Fetches `range` of `object` into `target`. The range must lie within the object.
  virtual FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) = 0;
  virtual void Cancel(FetchId id) = 0;
  /// Whether chunks for this transport need a payload (false in the simulator unless verifying bytes).
  virtual bool wants_payload() const = 0;
};

}  // namespace pflab
