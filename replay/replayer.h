// Closed-loop replay of a trace against policy stacks.
//
// Each stream of the trace is one client that issues its reads in order, one at a time: a read is
// issued when the previous one has been delivered plus the think time between them. The recorded
// think time before read i is t[i] - (t[i-1] + dur[i-1]) (dur taken as 0 when unknown), floored at 0,
// so a faster policy finishes sooner instead of replaying the recorded timestamps open-loop. A think
// time of zero still waits one loop turn (Scheduler::PostIdle: after every event due at that instant,
// in zero virtual time), as a program reading with no pause reaches an asyncio client's event loop
// only after the loop has run what was ready, so already completed fetches are consumed first. Every
// (stream, object) pair gets its own stack, as every open file handle has its own cache.
//
// A hint line is delivered to its (stream, object) stack (Source::Hint) at its place among the stream's
// reads: after the read before it completes plus its recorded distance from that read's end (scaled
// like think time and at most the think time before the next read), and in any case before the next
// read is issued. Hints before a stream's first read are delivered at their own (scaled) time.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/reader.h"
#include "policies/registry.h"
#include "traces/trace.h"

namespace pflab::replay {

/// How think time between reads is derived from the trace.
struct ThinkTime {
  enum class Mode { kRecorded, kZero, kScaled };
  Mode mode = Mode::kRecorded;
  double factor = 1.0;  // for kScaled

  /// Largest xFACTOR: scaled times of a trace (up to 2^53 ns) stay below 2^63 ns with room for the
  /// transfers between them.
  static constexpr double kMaxFactor = 100;

  /// Parses `recorded`, `zero` or `xFACTOR` (e.g. x0.5; 0 <= FACTOR <= kMaxFactor).
  static Result<ThinkTime> Parse(const std::string& text);
  /// A recorded time or gap as replay uses it: 0 when zero or negative, scaled (rounded to the nearest
  /// nanosecond) for xFACTOR. The replayer and the lower bound (replay/bound.h) both use this.
  Nanos Apply(Nanos recorded) const;
  std::string ToString() const;
};

/// Drives a trace through per-(stream, object) stacks on a scheduler.
class Replayer {
 public:
  /// Builds the stack for one stream reading one object.
  using StackFactory =
      std::function<Result<std::unique_ptr<policies::PolicyStack>>(std::uint32_t stream, std::uint32_t object)>;
  /// Called after each read with the read's record and what it delivered (or its error).
  using ReadObserver = std::function<void(const traces::TraceRecord&, const Result<Slices>&)>;

  Replayer(const traces::Trace& trace, ThinkTime think, Scheduler* scheduler, EventSink* events, StackFactory factory);
  ~Replayer();

  /// `observer` hears every read, or only the failed ones when `successes` is false (then a read that
  /// succeeds costs no call: the simulator's hot path).
  void set_observer(ReadObserver observer, bool successes = true) {
    observer_ = std::move(observer);
    observe_successes_ = successes;
  }
  /// Simulated runs: each successful read's bytes then cost `ns_per_mib` of the reading host's time per
  /// MiB before the stream's think time starts, on one thread for all streams (a read whose bytes
  /// arrive while it is busy with another's waits, and a stream's next read waits until the host has
  /// finished every read it holds): the profile's read_overhead_per_mib. 0: none.
  void set_read_overhead(Nanos ns_per_mib) { read_overhead_ns_per_mib_ = ns_per_mib; }
  /// `progress` hears the number of reads done after every kProgressEvery of them: for a command to
  /// show how far a long run is (it must not touch the run).
  static constexpr std::uint64_t kProgressEvery = 1 << 16;
  void set_progress(std::function<void(std::uint64_t reads_done)> progress) {
    progress_ = std::move(progress);
    next_progress_ = progress_ ? kProgressEvery : std::numeric_limits<std::uint64_t>::max();
  }
  /// Schedules every stream's first read; run the scheduler afterwards.
  Status Start();
  /// Destroys every stack (cancelling what is in flight) so the run's buffers are released.
  void Teardown();

  std::uint64_t reads_done() const { return reads_done_; }
  std::uint64_t reads_failed() const { return reads_failed_; }
  const Error* first_error() const { return first_error_ ? &*first_error_ : nullptr; }

 private:
  struct Handle {
    std::unique_ptr<policies::PolicyStack> stack;
    std::unique_ptr<Reader> reader;
  };
  struct Stream {
    std::uint32_t id = 0;
    std::vector<std::uint32_t> records;  // indices into the trace, in order
    std::size_t next = 0;
    std::vector<std::uint32_t> hints;  // indices into trace.hints, in order
    std::size_t hints_delivered = 0;
    std::size_t hints_scheduled = 0;
    // By object index, built on first use; a map, as a stream reads few of a trace's objects (a
    // vector per stream would cost streams x objects).
    std::map<std::uint32_t, Handle> handles;
    // The handle of the object read last (most reads continue on one object); map nodes do not move.
    std::uint32_t last_object = 0;
    Handle* last_handle = nullptr;
  };

  void Issue(std::size_t stream_index);
  // The stack of (stream, object), built on first use; nullptr when building failed (reported by `error`).
  Handle* HandleFor(Stream& stream, std::uint32_t object, std::optional<Error>* error);
  // Delivers the stream's hints up to position `end` of Stream::hints that are not delivered yet.
  void DeliverHints(std::size_t stream_index, std::size_t end);
  // Schedules the stream's hints that come before its read at `position` (all remaining ones when
  // `position` is past the last read), timed from the end of the read before it (or the trace start).
  void ScheduleHints(std::size_t stream_index, std::size_t position);
  Nanos Scale(Nanos recorded) const;
  void OnDelivered(std::size_t stream_index, std::uint32_t record_index, Result<Slices>&& result);
  // Records a completed read and moves its stream on: the think time before the stream's next read, or
  // nothing when it has read its last.
  std::optional<Nanos> Complete(std::size_t stream_index, std::uint32_t record_index, Result<Slices>&& result);
  // Issues the stream's next read after `think`, counted from when the reading host is done with the
  // bytes it was given last.
  void IssueAfter(std::size_t stream_index, Nanos think);
  // Issues the stream's next read now, or once the reading host has finished every read's bytes it holds.
  void IssueWhenReaderFree(std::size_t stream_index);
  bool ReaderBusy() const;
  Nanos ThinkBefore(const Stream& stream, std::size_t position) const;

  const traces::Trace& trace_;
  ThinkTime think_;
  Scheduler* scheduler_;
  EventSink* events_;
  StackFactory factory_;
  ReadObserver observer_;
  bool observe_successes_ = true;
  Nanos read_overhead_ns_per_mib_ = 0;
  Nanos reader_busy_until_ = 0;  // when the reading host is done with the bytes it was given last
  std::vector<Stream> streams_;
  std::uint64_t reads_done_ = 0;
  std::uint64_t reads_failed_ = 0;
  std::function<void(std::uint64_t)> progress_;
  std::uint64_t next_progress_ = std::numeric_limits<std::uint64_t>::max();  // never, without progress_
  std::optional<Error> first_error_;
};

}  // namespace pflab::replay
