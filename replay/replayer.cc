#include "replay/replayer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace pflab::replay {

Result<ThinkTime> ThinkTime::Parse(const std::string& text) {
  ThinkTime t;
  if (text == "recorded") return t;
  if (text == "zero") {
    t.mode = Mode::kZero;
    return t;
  }
  if (text.size() > 1 && text[0] == 'x') {
    double factor = 0;
    auto [ptr, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), factor);
    if (ec == std::errc() && ptr == text.data() + text.size() && factor >= 0 && factor <= kMaxFactor) {
      t.mode = Mode::kScaled;
      t.factor = factor;
      return t;
    }
  }
  return InvalidArgument("--think '" + text +
                         "': expected recorded, zero or xFACTOR (e.g. x0.5, FACTOR from 0 to 100)");
}

Nanos ThinkTime::Apply(Nanos recorded) const {
  if (mode == Mode::kZero || recorded <= 0) return 0;
  if (mode == Mode::kScaled) return static_cast<Nanos>(std::llround(static_cast<double>(recorded) * factor));
  return recorded;
}

std::string ThinkTime::ToString() const {
  switch (mode) {
    case Mode::kRecorded: return "recorded";
    case Mode::kZero: return "zero";
    case Mode::kScaled: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "x%g", factor);
      return buf;
    }
  }
  return "recorded";
}

Replayer::Replayer(const traces::Trace& trace, ThinkTime think, Scheduler* scheduler, EventSink* events,
                   StackFactory factory)
    : trace_(trace), think_(think), scheduler_(scheduler), events_(events), factory_(std::move(factory)) {
  std::unordered_map<std::uint32_t, std::size_t> by_id;
  std::size_t last = 0;  // the stream of the record before (runs of one stream's records are common)
  for (std::uint32_t i = 0; i < trace_.records.size(); ++i) {
    const std::uint32_t id = trace_.records[i].stream;
    if (i == 0 || id != streams_[last].id) {
      auto [it, inserted] = by_id.try_emplace(id, streams_.size());
      if (inserted) {
        streams_.emplace_back();
        streams_.back().id = id;
      }
      last = it->second;
    }
    streams_[last].records.push_back(i);
  }
  for (std::uint32_t i = 0; i < trace_.hints.size(); ++i) {
    auto it = by_id.find(trace_.hints[i].stream);
    if (it != by_id.end()) streams_[it->second].hints.push_back(i);
  }
}

Replayer::~Replayer() {
  Teardown();
}

void Replayer::Teardown() {
  for (auto& stream : streams_) {
    stream.last_handle = nullptr;
    for (auto& [object, handle] : stream.handles) {
      handle.reader.reset();
      handle.stack.reset();
    }
  }
}

Status Replayer::Start() {
  std::size_t hints_placed = 0;
  for (const auto& stream : streams_) hints_placed += stream.hints.size();
  if (hints_placed != trace_.hints.size()) {
    return InvalidArgument("trace " + trace_.name + " has hints for a stream without reads");
  }
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    Stream& stream = streams_[s];
    ScheduleHints(s, 0);
    const Nanos at = Scale(trace_.records[stream.records.front()].t_ns);
    scheduler_->PostAt(at, [this, s] { Issue(s); });
  }
  return OkStatus();
}

Nanos Replayer::Scale(Nanos recorded) const {
  return think_.Apply(recorded);
}

Replayer::Handle* Replayer::HandleFor(Stream& stream, std::uint32_t object, std::optional<Error>* error) {
  if (object == stream.last_object && stream.last_handle) return stream.last_handle;
  Handle& handle = stream.handles[object];
  if (!handle.reader) {
    auto stack = factory_(stream.id, object);
    if (!stack) {
      *error = stack.error();
      return nullptr;
    }
    handle.stack = std::move(*stack);
    handle.reader = std::make_unique<Reader>(LayerContext{scheduler_, events_, stream.id}, handle.stack->top());
  }
  stream.last_object = object;
  stream.last_handle = &handle;
  return &handle;
}

void Replayer::DeliverHints(std::size_t stream_index, std::size_t end) {
  Stream& stream = streams_[stream_index];
  for (; stream.hints_delivered < end; ++stream.hints_delivered) {
    const traces::TraceHint& hint = trace_.hints[stream.hints[stream.hints_delivered]];
    std::optional<Error> error;
    // A stack that cannot be built fails the stream's next read of the object with the same error.
    if (Handle* handle = HandleFor(stream, hint.object, &error)) handle->stack->top()->Hint(hint.ranges);
  }
}

void Replayer::ScheduleHints(std::size_t stream_index, std::size_t position) {
  Stream& stream = streams_[stream_index];
  if (stream.hints_scheduled >= stream.hints.size()) return;
  const bool last = position >= stream.records.size();
  const std::size_t before = last ? trace_.records.size() : stream.records[position];
  // Hints are timed from the end of the stream's previous read, or from the trace start.
  Nanos from = 0;
  if (position > 0) {
    const auto& prev = trace_.records[stream.records[position - 1]];
    from = prev.t_ns + std::max<Nanos>(prev.duration_ns, 0);
  }
  const Nanos limit = position == 0 ? Scale(trace_.records[stream.records.front()].t_ns)
                      : last        ? std::numeric_limits<Nanos>::max()
                                    : ThinkBefore(stream, position);
  for (; stream.hints_scheduled < stream.hints.size() &&
         trace_.hints[stream.hints[stream.hints_scheduled]].before <= before;
       ++stream.hints_scheduled) {
    const Nanos delay = std::min(limit, Scale(trace_.hints[stream.hints[stream.hints_scheduled]].t_ns - from));
    const std::size_t end = stream.hints_scheduled + 1;
    auto deliver = [this, stream_index, end] { DeliverHints(stream_index, end); };
    if (position == 0) {
      scheduler_->PostAt(delay, std::move(deliver));
    } else {
      scheduler_->PostAfter(delay, std::move(deliver));
    }
  }
}

Nanos Replayer::ThinkBefore(const Stream& stream, std::size_t position) const {
  if (position == 0) return 0;
  const auto& prev = trace_.records[stream.records[position - 1]];
  const auto& cur = trace_.records[stream.records[position]];
  return think_.Apply(cur.t_ns - prev.t_ns - std::max<Nanos>(prev.duration_ns, 0));
}

void Replayer::Issue(std::size_t stream_index) {
  // Reads served from memory complete inside this task when their completion would be the next event
  // anyway (Reader::ReadAtOrServe), and the next read is issued here too when it would be the next
  // event: a run of such reads is one task instead of two events a read, with the same order, times
  // and event count.
  for (;;) {
    Stream& stream = streams_[stream_index];
    const std::uint32_t record_index = stream.records[stream.next];
    const traces::TraceRecord& record = trace_.records[record_index];
    // Every hint before this read reaches the stack first, whatever the scheduler's order of ties.
    if (stream.hints_delivered < stream.hints_scheduled) DeliverHints(stream_index, stream.hints_scheduled);
    std::optional<Error> error;
    Handle* handle = HandleFor(stream, record.object, &error);
    if (!handle) {
      OnDelivered(stream_index, record_index, std::move(*error));
      return;
    }
    // The length asked for: a read that crossed EOF is cut there again by the Reader, and the stack sees
    // both. Nothing may follow this call in the task but the served read's completion.
    std::optional<Result<Slices>> served =
        handle->reader->ReadAtOrServe(record.offset, record.asked(), [this, stream_index](Result<Slices>&& result) {
          const Stream& s = streams_[stream_index];
          OnDelivered(stream_index, s.records[s.next], std::move(result));
        });
    if (!served) return;
    const std::optional<Nanos> think = Complete(stream_index, record_index, std::move(*served));
    if (!think) return;
    if (*think != 0 || ReaderBusy() || !scheduler_->TakeIdleTurnNow()) {
      IssueAfter(stream_index, *think);
      return;
    }
  }
}

void Replayer::OnDelivered(std::size_t stream_index, std::uint32_t record_index, Result<Slices>&& result) {
  if (const std::optional<Nanos> think = Complete(stream_index, record_index, std::move(result))) {
    IssueAfter(stream_index, *think);
  }
}

std::optional<Nanos> Replayer::Complete(std::size_t stream_index, std::uint32_t record_index, Result<Slices>&& result) {
  if (++reads_done_ == next_progress_) {
    next_progress_ += kProgressEvery;
    progress_(reads_done_);
  }
  if (!result.ok()) {
    ++reads_failed_;
    if (!first_error_) first_error_ = result.error();
  }
  // The host's work on the delivered bytes comes before the think time, one read at a time.
  if (read_overhead_ns_per_mib_ > 0 && result.ok()) {
    const auto bytes = static_cast<double>(TotalLength(*result));
    const double cost = std::ceil(bytes * static_cast<double>(read_overhead_ns_per_mib_) / (1 << 20));
    reader_busy_until_ = TimeAfter(std::max(scheduler_->Now(), reader_busy_until_), cost);
  }
  if (observer_ && (observe_successes_ || !result.ok())) observer_(trace_.records[record_index], result);
  Stream& stream = streams_[stream_index];
  // Most traces have no hints: the test is here, not a call a read.
  if (stream.hints_scheduled < stream.hints.size()) ScheduleHints(stream_index, stream.next + 1);
  if (++stream.next >= stream.records.size()) return std::nullopt;
  return ThinkBefore(stream, stream.next);
}

bool Replayer::ReaderBusy() const {
  // Asked on every read: without a reader's time (every shipped profile, real runs) no clock is read.
  return reader_busy_until_ > 0 && reader_busy_until_ > scheduler_->Now();
}

void Replayer::IssueAfter(std::size_t stream_index, Nanos think) {
  auto issue = [this, stream_index] { IssueWhenReaderFree(stream_index); };
  // With no think time the next read still waits for one loop turn (see the header).
  if (think == 0 && !ReaderBusy()) {
    scheduler_->PostIdle(std::move(issue));
  } else {
    // The think time starts when the host is done with this read's bytes.
    scheduler_->PostAfter(std::max<Nanos>(reader_busy_until_ - scheduler_->Now(), 0) + think, std::move(issue));
  }
}

void Replayer::IssueWhenReaderFree(std::size_t stream_index) {
  // A host that is still busy with reads delivered since (another stream's bytes) finishes them first:
  // the real engine's loop runs the completions already queued before a due timer, so under
  // --verify-bytes four streams finishing together all wait for the last one's check.
  if (ReaderBusy()) {
    scheduler_->PostAt(reader_busy_until_, [this, stream_index] { IssueWhenReaderFree(stream_index); });
    return;
  }
  Issue(stream_index);
}

}  // namespace pflab::replay
