// A Transport for tests whose fetches and streams fail as scripted, on a virtual-time scheduler.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <vector>

#include "engine/scheduler.h"
#include "engine/transport.h"
#include "engine/units.h"

namespace pflab {

// A transport that fails chosen attempts, completing each fetch after 10 ms (or the delay scripted
// for its range start).
class ScriptedTransport final : public Transport {
 public:
  explicit ScriptedTransport(Scheduler* s) : scheduler_(s) {}
  FetchId Fetch(const ObjectRef&, ByteRange range, FetchTarget target, FetchCallback done) override {
    const FetchId id = next_++;
    const int attempt = attempts_[range.begin]++;
    fetches.push_back(range);
    FetchOutcome outcome;
    auto it = script.find(range.begin);
    if (it != script.end() && attempt < static_cast<int>(it->second.size())) {
      outcome = it->second[attempt];
    } else {
      outcome = FetchOutcome{OkStatus(), range.size()};
    }
    target.chunk->AddFilled(outcome.bytes_received);
    callbacks_[id] = std::move(done);
    auto delay = delays.find(range.begin);
    timers_[id] = scheduler_->PostAfter(delay == delays.end() ? 10 * kMillisecond : delay->second, [this, id, outcome] {
      timers_.erase(id);
      FetchCallback cb = std::move(callbacks_[id]);
      callbacks_.erase(id);
      cb(outcome);
    });
    return id;
  }
  void Cancel(FetchId id) override {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    scheduler_->Cancel(it->second);
    timers_.erase(it);
    ++cancelled;
    FetchCallback done = std::move(callbacks_[id]);
    callbacks_.erase(id);
    scheduler_->Post([this, done = std::move(done)] {
      ++cancel_callbacks;
      done(FetchOutcome{Cancelled("x"), 0});
    });
  }
  bool wants_payload() const override { return false; }

  // Streams: each pull completes 10 ms after it is made with all it asked for, unless the GET it
  // comes from is scripted to break on its first pull: the GETs opened at an offset take the outcomes
  // scripted for it in turn (with the bytes that arrived).
  StreamId OpenStream(const ObjectRef&, ByteRange range) override {
    const StreamId id = next_++;
    stream_opens.push_back(range);
    StreamState& st = streams_[id];
    st.position = range.begin;
    st.end = range.end;
    if (auto breaks = stream_breaks.find(range.begin); breaks != stream_breaks.end() && !breaks->second.empty()) {
      st.first_pull = breaks->second.front();
      breaks->second.erase(breaks->second.begin());
    }
    return id;
  }
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override {
    StreamState& st = streams_.at(id);
    REQUIRE(st.pull_timer == 0);
    length = std::min(length, st.end - st.position);
    pulls.push_back(length);
    FetchOutcome outcome{OkStatus(), length};
    if (st.pulls == 0 && st.first_pull) outcome = *st.first_pull;
    ++st.pulls;
    target.chunk->AddFilled(outcome.bytes_received);
    st.position += outcome.bytes_received;
    st.done = std::move(done);
    st.pull_timer = scheduler_->PostAfter(10 * kMillisecond, [this, id, outcome] {
      StreamState& s = streams_.at(id);
      s.pull_timer = 0;
      FetchCallback cb = std::move(s.done);
      cb(outcome);
    });
  }
  void CloseStream(StreamId id, StreamClosedCallback closed) override {
    StreamState& st = streams_.at(id);
    if (st.pull_timer) {
      scheduler_->Cancel(st.pull_timer);
      scheduler_->Post([done = std::move(st.done)] { done(FetchOutcome{Cancelled("x"), 0}); });
    }
    streams_.erase(id);
    ++streams_closed;
    scheduler_->Post([this, closed = std::move(closed)]() mutable { closed(std::uint64_t{unread_at_close}); });
  }

  // By GET start: the outcomes of the first pulls of the GETs opened there, one GET after another.
  std::map<std::uint64_t, std::vector<FetchOutcome>> stream_breaks;
  std::vector<ByteRange> stream_opens;
  std::vector<std::uint64_t> pulls;
  int streams_closed = 0;
  std::uint64_t unread_at_close = 0;  // what every close reports

  std::map<std::uint64_t, std::vector<FetchOutcome>> script;  // by range start: outcomes per attempt
  std::map<std::uint64_t, Nanos> delays;                      // by range start
  std::vector<ByteRange> fetches;
  int cancelled = 0;
  int cancel_callbacks = 0;

 private:
  Scheduler* scheduler_;
  FetchId next_ = 1;
  std::map<std::uint64_t, int> attempts_;
  std::map<FetchId, TimerId> timers_;
  std::map<FetchId, FetchCallback> callbacks_;
  struct StreamState {
    std::uint64_t position = 0;
    std::uint64_t end = 0;
    int pulls = 0;
    std::optional<FetchOutcome> first_pull;
    TimerId pull_timer = 0;
    FetchCallback done;
  };
  std::map<StreamId, StreamState> streams_;
};

}  // namespace pflab
