#include "policies/mountpoint_prefetcher.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace pflab::policies {

PolicyEntry MountpointEntry() {
  using O = MountpointOptions;
  return EntryBuilder<O>("mountpoint-s3",
                         "Mountpoint for Amazon S3 prefetcher (awslabs/mountpoint-s3@58817cab, "
                         "mountpoint-s3-fs/src/prefetch.rs and prefetch/*.rs) with the CRT's part GETs",
                         "cursor per sequential run: 1.125 MiB GET, then [off+1.125 MiB, EOF) in 8 MiB parts inside a "
                         "read window that doubles on each queue stall up to 2 GiB; seeks 16 MiB forward / 1 MiB back, "
                         "else reset; must sit on the fetcher")
      .Place(Placement::kOnFetcher)
      .Size("initial", &O::initial, "INITIAL_REQUEST_SIZE (1 MiB + 128 KiB); 0 skips the first GET")
      .Size("part_size", &O::part_size, "--read-part-size: CRT part GETs, window alignment and minimum window",
            AtLeast(1))
      .Size("max_window", &O::max_window, "max_read_window_size (UNSTABLE_MOUNTPOINT_MAX_PREFETCH_WINDOW_SIZE)",
            AtLeast(1))
      .Uint("multiplier", &O::multiplier, "sequential_prefetch_multiplier (at least 2)")
      .Size("forward_seek", &O::forward_seek, "max_forward_seek_wait_distance beyond the data already arrived")
      // SeekWindow::new needs room for at least one byte.
      .Size("backward_seek", &O::backward_seek, "max_backward_seek_distance (bytes kept behind the cursor)", AtLeast(1))
      .Uint("max_parts", &O::max_parts, "CRT part GETs in flight (4 x 25 connections at 10 Gbps)", Between(1, 4096))
      .Check([](O& o) -> Status {
        // new_backpressure_controller: a multiplier below 2 is raised to 2 (MIN_WINDOW_SIZE_MULTIPLIER).
        o.multiplier = std::clamp<std::uint32_t>(o.multiplier, 2, 1024);
        return OkStatus();
      })
      .Builds<MountpointPrefetcher>()
      .Done();
}

MountpointPrefetcher::MountpointPrefetcher(LayerContext ctx, Source* lower, MountpointOptions options)
    : PolicyLayer(ctx, lower), options_(options) {}

MountpointPrefetcher::~MountpointPrefetcher() {
  *alive_ = false;
  for (const CrtPart& part : parts_) {
    if (!part.result) lower_->Cancel(part.lower);
  }
}

// ---- PrefetchGetObject::read / try_read, Cursor::try_read ----

ReadId MountpointPrefetcher::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  const std::uint64_t size = lower_->size();
  if (!ClampToObject(range, done)) return id;  // read(): remaining == 0 -> empty
  current_read_ = id;
  done_ = std::move(done);
  out_.clear();
  seek_remaining_ = 0;
  const std::uint64_t length = range.size();
  preferred_piece_ = std::min<std::uint64_t>(std::max(preferred_piece_, length), 1 << 20);

  bool served = false;
  if (has_cursor_) {
    const std::uint64_t offset = range.begin;
    if (offset == current_) {
      served = true;
    } else if (offset > current_) {  // try_seek_forward
      served = offset < window_end_ && offset < available_ + options_.forward_seek;
      if (served) seek_remaining_ = offset - current_;
    } else {  // try_seek_backward
      served = SeekBackward(current_ - offset);
    }
  }
  if (!served) {
    // Drop the stale cursor first (cancels its requests), then start a new one at the offset.
    DropCursor();
    NewCursor(range.begin);
  }
  // do_read: at most what is left of the request range (its end is the object's end).
  to_read_ = std::min(length, size - range.begin);
  Continue();
  return id;
}

void MountpointPrefetcher::Cancel(ReadId id) {
  if (id != current_read_ || current_read_ == 0) return;
  current_read_ = 0;
  waiting_ = false;
  seek_remaining_ = 0;
  to_read_ = 0;
  out_.clear();
  CompleteLater(std::move(done_), Cancelled("read cancelled"));
}

void MountpointPrefetcher::Finish(Result<Slices>&& result) {
  current_read_ = 0;
  waiting_ = false;
  out_.clear();
  CompleteLater(std::move(done_), std::move(result));
}

// The forward-seek loop (try_seek_forward) and then do_read, resumable when data arrives.
void MountpointPrefetcher::Continue() {
  waiting_ = false;
  while (seek_remaining_ > 0 || to_read_ > 0) {
    const bool seeking = seek_remaining_ > 0;
    const std::uint64_t wanted = seeking ? seek_remaining_ : to_read_;
    std::uint64_t taken = 0;
    if (current_ < kept_end_) {
      taken = TakeKept(wanted, !seeking);
    } else if (!queue_.empty()) {
      taken = TakeNew(wanted, !seeking);
    } else if (queue_error_) {
      // PrefetchGetObject::read: an error resets the prefetcher and fails the read.
      Error error = *queue_error_;
      DropCursor();
      Finish(std::move(error));
      return;
    } else {
      waiting_ = true;
      return;
    }
    (seeking ? seek_remaining_ : to_read_) -= taken;
  }
  Finish(std::move(out_));
}

// The front queue's pieces are taken one per PartQueue::read; a read of less than a piece takes its
// head and leaves the tail at the front. Taking them all at once does the same: each piece moves the
// read window at its end (OnDataReadOver), only the last can end where the data received ends (a
// queue stall), and pushing them one by one into the backward window leaves in it the longest run of
// pieces ending at the new offset that fits (Evict). None is longer than the window: each was in it.
std::uint64_t MountpointPrefetcher::TakeKept(std::uint64_t length, bool deliver) {
  const std::uint64_t begin = current_;
  const std::uint64_t end = std::min(kept_end_, begin + length);
  if (end < kept_end_) cuts_.insert(end);  // the tail stays at the front (nothing new at a piece's end)
  OnDataReadOver(begin, end);
  if (available_ <= end) ScaleUp();  // PartQueueStall: nothing left in the queue
  if (deliver) KeptSlices(begin, end, out_);
  current_ = end;
  Evict();
  return end - begin;
}

std::uint64_t MountpointPrefetcher::TakeNew(std::uint64_t length, bool deliver) {
  // The queue's next piece is [at, cut), cut at the next multiple of the piece size; a read of less
  // takes its head and leaves the tail at the front, which is where the part's next cut starts.
  QueuedPart& part = queue_.front();
  const std::uint64_t at = part.at;
  const std::uint64_t cut = std::min(part.end, (at / piece_size_ + 1) * piece_size_);
  const std::uint64_t take = std::min(length, cut - at);
  Slices data;
  AppendHead(part.data, take, data);
  part.at += take;
  if (part.at == part.end) {
    queue_.pop_front();
  } else {
    DropFront(part.data, take);
  }
  OnDataRead(at + take);
  if (available_ <= at + take) ScaleUp();
  if (deliver) out_.insert(out_.end(), data.begin(), data.end());
  current_ = at + take;
  if (take > options_.backward_seek) {
    // SeekWindow::push of a piece longer than the window empties it (the front queue is empty here).
    cuts_.clear();
    kept_.clear();
  } else {
    cuts_.insert(cuts_.end(), at);
    AppendKept(at, data);
  }
  kept_end_ = current_;
  Evict();
  return take;
}

// The read window's end moves at a piece's end `next` when less than half the preferred window is left
// beyond it (or none): at the first end at or past `threshold`. Moving it puts the next such end at
// least half a window further, so this asks a few times per window, not once per piece.
void MountpointPrefetcher::OnDataReadOver(std::uint64_t from, std::uint64_t to) {
  const std::uint64_t size = lower_->size();
  while (window_end_ < size) {
    const std::uint64_t half = window_ / 2;
    const std::uint64_t threshold = half == 0 ? window_end_ : (window_end_ >= half ? window_end_ - half + 1 : 0);
    // The pieces in (from, to) end where the next begins; the last ends at `to`.
    const auto it = cuts_.lower_bound(std::max(threshold, from + 1));
    std::uint64_t next = to;
    if (it != cuts_.end() && *it < to) {
      next = *it;
    } else if (to < threshold) {
      return;
    }
    [[maybe_unused]] const std::uint64_t before = window_end_;
    OnDataRead(next);
    assert(window_end_ > before);
  }
}

void MountpointPrefetcher::Evict() {
  bool evicted = false;
  while (SeekWindowBytes() > options_.backward_seek) {
    cuts_.erase(cuts_.begin());
    evicted = true;
  }
  if (!evicted) return;
  // Release the slices wholly before the kept bytes, as the evicted pieces held them.
  const std::uint64_t begin = KeptBegin();
  while (!kept_.empty() && kept_.front().at + kept_.front().slice.length <= begin) kept_.pop_front();
  if (!kept_.empty() && kept_.front().at < begin) {
    KeptSlice& first = kept_.front();
    first.slice = first.slice.Sub(begin - first.at, first.slice.length - (begin - first.at));
    first.at = begin;
  }
}

void MountpointPrefetcher::AppendKept(std::uint64_t at, const Slices& data) {
  for (const Slice& s : data) {
    if (!kept_.empty()) {
      Slice& last = kept_.back().slice;
      if (last.ContinuedBy(s)) {
        last.length += s.length;
        at += s.length;
        continue;
      }
    }
    kept_.push_back(KeptSlice{at, s});
    at += s.length;
  }
}

void MountpointPrefetcher::KeptSlices(std::uint64_t begin, std::uint64_t end, Slices& out) const {
  auto it = std::upper_bound(kept_.begin(), kept_.end(), begin,
                             [](std::uint64_t offset, const KeptSlice& k) { return offset < k.at; });
  for (--it; begin < end; ++it) {
    const std::uint64_t skip = begin - it->at;
    const std::uint64_t take = std::min(end - begin, it->slice.length - skip);
    out.push_back(it->slice.Sub(skip, take));
    begin += take;
  }
}

// Appends the first `length` bytes of `from` to `out`, as SubSlices(from, 0, length) would hold them
// (no empty slice), without building a list to move.
void MountpointPrefetcher::AppendHead(const Slices& from, std::uint64_t length, Slices& out) {
  for (const Slice& s : from) {
    if (length == 0) break;
    if (s.length == 0) continue;
    const std::uint64_t take = std::min(length, s.length);
    out.push_back(s.Sub(0, take));
    length -= take;
  }
}

// Drops the first `skip` bytes of `data`, releasing the slices wholly inside them (as SubSlices of
// the rest would hold only the others).
void MountpointPrefetcher::DropFront(Slices& data, std::uint64_t skip) {
  auto it = data.begin();
  while (it != data.end() && skip >= it->length) {
    skip -= it->length;
    ++it;
  }
  data.erase(data.begin(), it);
  if (skip > 0 && !data.empty()) {
    data.front().offset += skip;
    data.front().length -= skip;
  }
}

// SeekWindow::read_back, then RequestTask::push_front: the window's last `length` bytes become the
// front of the queue, the piece holding the new offset cut there, as read_back cuts it.
bool MountpointPrefetcher::SeekBackward(std::uint64_t length) {
  if (length > SeekWindowBytes()) return false;
  current_ -= length;
  cuts_.insert(current_);
  return true;
}

// ---- cursor lifetime ----

void MountpointPrefetcher::NewCursor(std::uint64_t offset) {
  const std::uint64_t size = lower_->size();
  has_cursor_ = true;
  start_ = offset;
  current_ = offset;
  kept_end_ = offset;
  available_ = offset;
  piece_size_ = preferred_piece_;
  // RequestTaskConfig::initial_read_window_size; new_backpressure_controller.
  const std::uint64_t initial_window = options_.initial > 0 ? options_.initial : options_.part_size;
  window_ = initial_window;
  window_end_ = offset + initial_window;
  align_from_ = offset + options_.initial;
  limiter_end_ = window_end_;
  pending_increment_ = 0;
  blocked_ = false;
  // read_from_client_stream: the first GET, trimmed to the initial request size.
  const ByteRange first{offset, std::min(size, offset + options_.initial)};
  if (!first.empty()) {
    producer_ = Producer::kFirst;
    StartRequest(first);
    return;
  }
  // No first GET (initial = 0): the second waits for a window past its start, which it already has.
  producer_ = Producer::kWaitSecond;
  ProducerRun();
}

void MountpointPrefetcher::DropCursor() {
  if (!has_cursor_) return;
  has_cursor_ = false;
  for (const CrtPart& part : parts_) {
    if (!part.result) lower_->Cancel(part.lower);
  }
  parts_.clear();
  in_flight_ = 0;
  cuts_.clear();
  kept_.clear();
  kept_end_ = current_;
  queue_.clear();
  queue_error_.reset();
  producer_ = Producer::kDone;
  blocked_ = false;
}

// ---- BackpressureController ----

// send_feedback(DataRead): move the window end when less than half the preferred window is left.
// Mountpoint's test alone never fires for a window of one byte (half of it rounds to 0), which its
// fixed sizes never make but `initial=1`, or `part_size=1` with `initial=0`, do: the reader would wait
// forever at the window's end. An exhausted window is always moved, which changes nothing for any
// window of two bytes or more.
void MountpointPrefetcher::OnDataRead(std::uint64_t next) {
  const std::uint64_t end = lower_->size();
  const std::uint64_t remaining = window_end_ > next ? window_end_ - next : 0;
  if ((remaining == 0 || remaining < window_ / 2) && window_end_ < end) {
    const std::uint64_t target = std::min(Align(next + window_), end);
    if (target > window_end_) Increment(target - window_end_);  // the limiter always grants it here
  }
}

// scale_up on PartQueueStall.
void MountpointPrefetcher::ScaleUp() {
  if (window_ < options_.max_window) {
    window_ = std::min(std::max(window_ * options_.multiplier, options_.part_size), options_.max_window);
  }
}

// ReadWindowAlignmentConfig::align: round up to a part boundary counted from start + initial.
std::uint64_t MountpointPrefetcher::Align(std::uint64_t end) const {
  if (end <= align_from_) return end;
  const std::uint64_t relative = end - align_from_;
  const std::uint64_t ps = options_.part_size;
  return align_from_ + (relative + ps - 1) / ps * ps;
}

// increment_read_window: the increment goes to the limiter's channel; a blocked producer takes it now.
void MountpointPrefetcher::Increment(std::uint64_t length) {
  window_end_ += length;
  pending_increment_ += length;
  if (!blocked_) return;
  limiter_end_ += std::exchange(pending_increment_, 0);
  if (limiter_end_ > blocked_at_ || limiter_end_ >= lower_->size()) {
    blocked_ = false;
    if (producer_ == Producer::kWaitSecond) {
      ProducerRun();
    } else {
      EnsureWindow(limiter_end_);
      ProducerRun();
    }
  }
}

// ---- producer (read_from_client_stream / read_from_request) and CRT ----

void MountpointPrefetcher::StartRequest(ByteRange range) {
  request_ = range;
  next_part_ = range.begin;
  // The client's initial_read_window (one part), then ensure_read_window(limiter end).
  crt_window_ = std::max(range.begin + options_.part_size, limiter_end_);
  StartParts();
}

void MountpointPrefetcher::EnsureWindow(std::uint64_t end) {
  crt_window_ = std::max(crt_window_, end);
  StartParts();
}

void MountpointPrefetcher::StartParts() {
  while (next_part_ < request_.end && next_part_ < crt_window_ && in_flight_ < options_.max_parts) {
    CrtPart& part = parts_.emplace_back();
    part.range = {next_part_, std::min(request_.end, next_part_ + options_.part_size)};
    part.serial = next_serial_++;
    next_part_ = part.range.end;
    ++in_flight_;
    const std::uint64_t serial = part.serial;
    // FetchBelow may not complete inline, so `part` is still valid when it returns.
    part.lower =
        FetchBelow(part.range, 0, [this, serial](Result<Slices>&& result) { OnPartDone(serial, std::move(result)); });
  }
}

void MountpointPrefetcher::OnPartDone(std::uint64_t serial, Result<Slices>&& result) {
  if (parts_.empty() || serial < parts_.front().serial || serial - parts_.front().serial >= parts_.size()) {
    return;  // a part of a dropped cursor
  }
  CrtPart& part = parts_[serial - parts_.front().serial];
  part.result = std::move(result);
  --in_flight_;
  StartParts();
  ProducerRun();
  if (waiting_) Continue();
}

// Hands finished parts to the queue in order and moves between the two GETs, stopping where
// read_from_request would wait for a window increment.
void MountpointPrefetcher::ProducerRun() {
  while (!blocked_) {
    if (producer_ == Producer::kWaitSecond) {
      // wait_for_read_window_increment(second start) has returned: drain and start the second GET.
      limiter_end_ += std::exchange(pending_increment_, 0);
      producer_ = Producer::kSecond;
      StartRequest({start_ + options_.initial, lower_->size()});
      continue;
    }
    if (producer_ != Producer::kFirst && producer_ != Producer::kSecond) return;
    if (parts_.empty() || !parts_.front().result) return;
    CrtPart part = std::move(parts_.front());
    parts_.pop_front();
    if (!part.result->ok()) {
      // The GET fails; compose_parts pushes the error after the parts already queued.
      queue_error_ = part.result->error();
      producer_ = Producer::kFailed;
      for (const CrtPart& rest : parts_) {
        if (!rest.result) lower_->Cancel(rest.lower);
      }
      parts_.clear();
      in_flight_ = 0;
      return;
    }
    // ClientPartComposer::compose_parts: pieces cut at multiples of the preferred piece size, as
    // QueueRead reads them. SubSlices keeps only the slices that hold some of the part's bytes, as
    // the pieces did.
    const std::uint64_t length = part.range.size();
    if (length > 0) {
      queue_.push_back(QueuedPart{part.range.begin, part.range.end, SubSlices(part.result->value(), 0, length)});
    }
    available_ += length;
    const std::uint64_t next = part.range.end;
    if (next == request_.end) {
      if (producer_ == Producer::kSecond || next >= lower_->size()) {
        producer_ = Producer::kDone;
        return;
      }
      // The second GET waits until the window reaches past its start.
      producer_ = Producer::kWaitSecond;
      if (limiter_end_ <= next && limiter_end_ < lower_->size()) {
        limiter_end_ += std::exchange(pending_increment_, 0);
        if (limiter_end_ <= next) {
          blocked_ = true;
          blocked_at_ = next;
        }
      }
      continue;
    }
    // wait_for_read_window_increment(next): drain without blocking, or block at the window's end.
    if (limiter_end_ > next) {
      if (pending_increment_ > 0) {
        limiter_end_ += std::exchange(pending_increment_, 0);
        EnsureWindow(limiter_end_);
      }
    } else if (limiter_end_ < lower_->size()) {
      limiter_end_ += std::exchange(pending_increment_, 0);
      if (limiter_end_ <= next) {
        blocked_ = true;
        blocked_at_ = next;
      } else {
        EnsureWindow(limiter_end_);
      }
    }
  }
}

}  // namespace pflab::policies
