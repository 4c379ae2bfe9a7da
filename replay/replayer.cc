#include "replay/replayer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
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
    if (ec == std::errc() && ptr == text.data() + text.size() && factor >= 0 && std::isfinite(factor)) {
      t.mode = Mode::kScaled;
      t.factor = factor;
      return t;
    }
  }
  return InvalidArgument("--think '" + text + "': expected recorded, zero or xFACTOR (e.g. x0.5)");
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
  for (std::uint32_t i = 0; i < trace_.records.size(); ++i) {
    const std::uint32_t id = trace_.records[i].stream;
    auto [it, inserted] = by_id.try_emplace(id, streams_.size());
    if (inserted) {
      streams_.emplace_back();
      streams_.back().id = id;
    }
    streams_[it->second].records.push_back(i);
  }
}

Replayer::~Replayer() {
  Teardown();
}

void Replayer::Teardown() {
  for (auto& stream : streams_) {
    for (auto& handle : stream.handles) {
      handle.reader.reset();
      handle.stack.reset();
    }
  }
}

Status Replayer::Start() {
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    Stream& stream = streams_[s];
    stream.handles.resize(trace_.objects.size());
    const Nanos first = trace_.records[stream.records.front()].t_ns;
    const Nanos at =
        think_.mode == ThinkTime::Mode::kZero
            ? 0
            : static_cast<Nanos>(std::llround(static_cast<double>(first) *
                                              (think_.mode == ThinkTime::Mode::kScaled ? think_.factor : 1)));
    scheduler_->PostAt(at, [this, s] { Issue(s); });
  }
  return OkStatus();
}

Nanos Replayer::ThinkBefore(const Stream& stream, std::size_t position) const {
  if (think_.mode == ThinkTime::Mode::kZero || position == 0) return 0;
  const auto& prev = trace_.records[stream.records[position - 1]];
  const auto& cur = trace_.records[stream.records[position]];
  const Nanos gap = cur.t_ns - prev.t_ns - std::max<Nanos>(prev.duration_ns, 0);
  if (gap <= 0) return 0;
  if (think_.mode == ThinkTime::Mode::kScaled) {
    return static_cast<Nanos>(std::llround(static_cast<double>(gap) * think_.factor));
  }
  return gap;
}

void Replayer::Issue(std::size_t stream_index) {
  Stream& stream = streams_[stream_index];
  const std::uint32_t record_index = stream.records[stream.next];
  const traces::TraceRecord& record = trace_.records[record_index];
  Handle& handle = stream.handles[record.object];
  if (!handle.reader) {
    auto stack = factory_(stream.id, record.object);
    if (!stack) {
      OnDelivered(stream_index, record_index, stack.error());
      return;
    }
    handle.stack = std::move(*stack);
    handle.reader = std::make_unique<Reader>(LayerContext{scheduler_, events_, stream.id}, handle.stack->top());
  }
  handle.reader->ReadAt(record.offset, record.length, [this, stream_index](Result<Slices>&& result) {
    const Stream& s = streams_[stream_index];
    OnDelivered(stream_index, s.records[s.next], std::move(result));
  });
}

void Replayer::OnDelivered(std::size_t stream_index, std::uint32_t record_index, Result<Slices>&& result) {
  ++reads_done_;
  if (!result.ok()) {
    ++reads_failed_;
    if (!first_error_) first_error_ = result.error();
  }
  if (observer_) observer_(trace_.records[record_index], result);
  Stream& stream = streams_[stream_index];
  if (++stream.next >= stream.records.size()) return;
  scheduler_->PostAfter(ThinkBefore(stream, stream.next), [this, stream_index] { Issue(stream_index); });
}

}  // namespace pflab::replay
