// Test double for the layer under a policy: logs every request and answers after a fixed delay.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/buffer.h"
#include "engine/source.h"

namespace pflab::testing {

/// One request a policy made of the layer below it.
struct LoggedRequest {
  std::uint64_t begin;
  std::uint64_t end;
  std::uint32_t max_parts;  // split hint (0 when Read, not ReadSplit, was used)
  Nanos at;
  friend bool operator==(const LoggedRequest& a, const LoggedRequest& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

/// A lower Source that records requests and completes each one `delay` later with a length-only chunk
/// (or, with `fail_at_request` set, fails that request number with a retryable error). With `streams`
/// set it also has streams, logging their opens, pulls and closes; a pull completes `delay` later.
class LoggingSource final : public Source {
 public:
  LoggingSource(Scheduler* scheduler, std::uint64_t size, Nanos delay = 0, MemoryAccount* account = nullptr)
      : scheduler_(scheduler), size_(size), delay_(delay), account_(account) {}

  ReadId Read(ByteRange range, ReadCallback done) override { return ReadSplit(range, 0, std::move(done)); }
  ReadId ReadSplit(ByteRange range, std::uint32_t max_parts, ReadCallback done) override {
    const ReadId id = next_id_++;
    requests.push_back({range.begin, range.end, max_parts, scheduler_->Now()});
    const int n = static_cast<int>(requests.size()) - 1;
    const bool fail = (fail_at_request >= 0 && n == fail_at_request) ||
                      std::find(fail_requests.begin(), fail_requests.end(), n) != fail_requests.end();
    Pending& p = pending_[id];
    p.done = std::move(done);
    p.timer = scheduler_->PostAfter(delay_, [this, id, range, fail] {
      ReadCallback done = std::move(pending_[id].done);
      pending_.erase(id);
      if (fail) {
        done(Unavailable("injected failure"));
        return;
      }
      const std::uint64_t end = std::min(range.end, size_);
      Slices out;
      if (end > range.begin) {
        out.push_back(Slice{Chunk::Make(end - range.begin, false, account_), 0, end - range.begin});
      }
      done(std::move(out));
    });
    return id;
  }
  void Cancel(ReadId id) override {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    scheduler_->Cancel(it->second.timer);
    scheduler_->Post([done = std::move(it->second.done)] { done(Cancelled("cancelled")); });
    pending_.erase(it);
    ++cancelled;
  }
  StreamId OpenStream(ByteRange range) override {
    if (!streams) return 0;
    const StreamId id = next_id_++;
    stream_opens.push_back({range.begin, range.end, 0, scheduler_->Now()});
    OpenStreamState& st = open_[id];
    st.begin = range.begin;
    st.end = range.end;
    st.position = range.begin;
    return id;
  }
  void ReadStream(StreamId id, std::uint64_t length, ReadCallback done) override {
    OpenStreamState& st = open_.at(id);
    const std::uint64_t begin = st.position;
    const std::uint64_t end = std::min(st.end, begin + length);
    pulls.push_back({begin, end, 0, scheduler_->Now()});
    st.position = end;
    st.done = std::move(done);
    st.timer = scheduler_->PostAfter(delay_, [this, id, begin, end] {
      OpenStreamState& s = open_.at(id);
      s.timer = 0;
      ReadCallback cb = std::move(s.done);
      Slices out;
      if (end > begin) out.push_back(Slice{Chunk::Make(end - begin, false, account_), 0, end - begin});
      cb(std::move(out));
    });
  }
  void CloseStream(StreamId id) override {
    auto it = open_.find(id);
    if (it == open_.end()) return;
    stream_closes.push_back({it->second.begin, it->second.position, 0, scheduler_->Now()});
    if (it->second.timer) {
      scheduler_->Cancel(it->second.timer);
      scheduler_->Post([done = std::move(it->second.done)] { done(Cancelled("stream closed")); });
    }
    open_.erase(it);
  }
  std::size_t open_streams() const { return open_.size(); }

  std::uint64_t size() const override { return size_; }
  const char* name() const override { return "logging"; }

  std::vector<LoggedRequest> requests;
  int cancelled = 0;
  int fail_at_request = -1;
  std::vector<int> fail_requests;  // more request numbers to fail
  bool streams = false;
  std::vector<LoggedRequest> stream_opens;   // [begin, end) of each stream
  std::vector<LoggedRequest> pulls;          // the bytes each pull took
  std::vector<LoggedRequest> stream_closes;  // [begin, position reached) of each stream closed

 private:
  Scheduler* scheduler_;
  std::uint64_t size_;
  Nanos delay_;
  MemoryAccount* account_;
  ReadId next_id_ = 1;
  struct Pending {
    TimerId timer = 0;
    ReadCallback done;
  };
  std::unordered_map<ReadId, Pending> pending_;
  struct OpenStreamState {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    std::uint64_t position = 0;
    ReadCallback done;
    TimerId timer = 0;
  };
  std::unordered_map<StreamId, OpenStreamState> open_;
};

}  // namespace pflab::testing
