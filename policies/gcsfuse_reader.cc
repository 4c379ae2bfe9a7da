#include "policies/gcsfuse_reader.h"

#include <algorithm>
#include <string>
#include <utility>

namespace pflab::policies {
Status CheckGcsfuseReaderOptions(const GcsfuseReaderOptions& o) {
  // cfg/params.yaml: "ChunkSize less than 1MB is not supported".
  if (o.sequential_read_size < kMiB) return InvalidArgument("gcsfuse: sequential_read_size must be at least 1MiB");
  if (o.min_read_size == 0 || o.min_read_size > o.max_read_size) {
    return InvalidArgument("gcsfuse: need 0 < min_read_size <= max_read_size");
  }
  if (o.fuse_max == 0) return InvalidArgument("gcsfuse: fuse_max must be positive");
  return OkStatus();
}

PolicyEntry GcsfuseReaderEntry() {
  using O = GcsfuseReaderOptions;
  return EntryBuilder<O>("gcsfuse",
                         "gcsfuse default read path (GoogleCloudPlatform/gcsfuse@7b392927): read_type_classifier.go, "
                         "client_readers/range_reader.go",
                         "seek-counting classifier; one stream per handle: sequential opens sequential_read_size, "
                         "random bytes per seek in whole MiB within [min_read_size, max_read_size]; reused when a read "
                         "continues it (gaps < max_read_size skipped); reads cut into fuse_max pieces")
      .Size("sequential_read_size", &O::sequential_read_size, "sequential-read-size-mb")
      .Size("max_read_size", &O::max_read_size,
            "maxReadSize: random/sequential threshold per seek, seek tolerance, skip limit")
      .Size("min_read_size", &O::min_read_size, "minReadSize: smallest random stream")
      .Size("fuse_max", &O::fuse_max, "largest FUSE READ (MaxPages from fuse-max-write-size-kb)")
      .Check([](O& o) { return CheckGcsfuseReaderOptions(o); })
      .Builds<GcsfuseReader>()
      .Done();
}

void GcsfuseClassifier::GetReadInfo(std::uint64_t offset, std::uint64_t max_read_size) {
  if (!started) {  // NewReadManager(..., InitialOffset: req.Offset)
    started = true;
    initial_offset = offset;
  }
  bool seek = false;  // isSeekNeeded
  if (expected_offset != 0) {
    seek =
        sequential ? offset < expected_offset || offset > expected_offset + max_read_size : offset != expected_offset;
  }
  if (seek) ++seeks;
  sequential = AverageReadBytes() >= max_read_size || (seeks == 0 && initial_offset == 0);
}

GcsfuseReader::GcsfuseReader(LayerContext ctx, Source* lower, GcsfuseReaderOptions options)
    : PolicyLayer(ctx, lower), options_(options) {}

GcsfuseReader::~GcsfuseReader() {
  *alive_ = false;
  if (lower_id_ != 0) lower_->Cancel(lower_id_);
  CloseLowerStream();
}

void GcsfuseReader::CloseLowerStream() {
  if (lower_stream_ != 0) lower_->CloseStream(lower_stream_);
  lower_stream_ = 0;
  lower_logical_ = 0;
}

ReadId GcsfuseReader::Read(ByteRange range, ReadCallback done) {
  const ReadId id = next_id_++;
  // ReadManager.ReadAt: a read at or past EOF, or an empty one, returns before the classifier sees it.
  if (!ClampToObject(range, done)) return id;
  current_ = id;
  range_ = range;
  pos_ = range.begin;
  out_.clear();
  done_ = std::move(done);
  Issue();
  return id;
}

void GcsfuseReader::Cancel(ReadId id) {
  if (id != current_ || current_ == 0) return;
  if (lower_id_ != 0) lower_->Cancel(lower_id_);
  lower_id_ = 0;
  ++request_seq_;      // its late callback is ignored
  CloseLowerStream();  // a pull in progress ends with it (ReadFull is cancelled with its reader)
  state_ = fail_state_;
  current_ = 0;
  out_.clear();
  CompleteLater(std::move(done_), Cancelled("read cancelled"));
}

std::uint64_t GcsfuseReader::PrefetchWindow() {
  GcsfuseClassifier& c = state_.classifier;
  if (c.seeks > 0 || c.initial_offset > 0) {
    const std::uint64_t average = c.AverageReadBytes();
    if (average < options_.max_read_size) {
      const std::uint64_t rounded = (average + kMiB - 1) / kMiB * kMiB;  // read_type_classifier.go MB
      c.sequential = false;
      return std::clamp(rounded, options_.min_read_size, options_.max_read_size);
    }
  }
  c.sequential = true;
  return options_.sequential_read_size;
}

GcsfuseReader::Piece GcsfuseReader::Step(std::uint64_t begin, std::uint64_t end, State& on_fail) {
  State& s = state_;
  s.classifier.GetReadInfo(begin, options_.max_read_size);
  // GCSReader.read -> getEndOffset: where a new stream would end.
  const std::uint64_t stream_end = std::min(begin + PrefetchWindow(), lower_->size());

  Piece piece;
  std::uint64_t discard_stream = 0;
  ByteRange discard;
  if (s.stream_open) {  // RangeReader.readFromExistingReader
    const std::uint64_t at = s.stream_pos;
    // skipBytes: read and discard a gap of less than maxReadSize.
    if (s.stream_pos < begin && begin - s.stream_pos < options_.max_read_size) {
      s.stream_pos = std::min(begin, s.stream_limit);
    }
    // invalidateReaderIfMisalignedOrTooSmall
    if (s.stream_pos != begin || end > s.stream_limit) {
      s.stream_open = false;
      if (s.stream_pos > at) {
        discard_stream = s.stream_id;
        discard = {at, s.stream_pos};
      }
    } else {
      piece.stream = s.stream_id;
      piece.fetch_begin = at;
      piece.end = end;
    }
  }
  if (!s.stream_open) {  // readFromRangeReader -> startRead(offset, EndOffset)
    s.stream_open = true;
    s.stream_id = ++s.streams_opened;
    s.stream_pos = begin;
    s.stream_limit = std::max(stream_end, end);  // gcsfuse: stream_end, and a short read past it
    piece = Piece{s.stream_id, begin, end, true, s.stream_limit, discard_stream, discard};
  }
  s.stream_pos = end;
  if (s.stream_pos == s.stream_limit) s.stream_open = false;  // "Are we finished with this reader now?"

  on_fail = s;
  on_fail.stream_open = false;
  s.classifier.RecordRead(begin, end);  // after a successful read
  return piece;
}

void GcsfuseReader::Issue() {
  // Pieces of this read that the same stream serves back to back become one request.
  Piece request;
  bool have = false;
  for (std::uint64_t begin = pos_; begin < range_.end;) {
    const std::uint64_t end = std::min(range_.end, begin + options_.fuse_max);
    const State before = state_;
    State on_fail;
    const Piece piece = Step(begin, end, on_fail);
    if (!have) {
      request = piece;
      fail_state_ = on_fail;
      have = true;
    } else if (piece.stream == request.stream && piece.fetch_begin == request.end) {
      request.end = piece.end;
    } else {
      state_ = before;  // this piece goes in the next request
      break;
    }
    begin = end;
  }
  request_ = request;
  Send();
}

void GcsfuseReader::Send() {
  const std::uint64_t seq = ++request_seq_;
  if (!request_.discard.empty() && lower_stream_ != 0 && lower_logical_ == request_.discard_stream) {
    // skipBytes reads the gap before the stream is found too short; its errors are only logged.
    const ByteRange discard = request_.discard;
    request_.discard = {};
    PullBelow(lower_stream_, discard, [this, seq](Result<Slices>&&) {
      if (seq == request_seq_ && current_ != 0) Send();
    });
    return;
  }
  if (request_.opens) {
    CloseLowerStream();
    lower_stream_ = lower_->OpenStream({request_.fetch_begin, request_.limit});
    lower_logical_ = lower_stream_ != 0 ? request_.stream : 0;
  }
  const ByteRange range{request_.fetch_begin, request_.end};
  auto done = [this, seq](Result<Slices>&& result) { OnFetched(seq, std::move(result)); };
  if (lower_stream_ != 0 && lower_logical_ == request_.stream) {
    PullBelow(lower_stream_, range, std::move(done));
  } else {
    lower_id_ = FetchBelow(range, 0, std::move(done));
  }
}

void GcsfuseReader::OnFetched(std::uint64_t seq, Result<Slices>&& result) {
  if (seq != request_seq_ || current_ == 0) return;  // a cancelled read's request
  lower_id_ = 0;
  const std::uint64_t fetch_begin = request_.fetch_begin;
  const std::uint64_t fetch_end = request_.end;
  if (result.ok() && TotalLength(*result) != fetch_end - fetch_begin) {
    result = Internal("gcsfuse: the layer below returned " + std::to_string(TotalLength(*result)) + " bytes for " +
                      std::to_string(fetch_end - fetch_begin));
  }
  if (!result.ok()) {
    state_ = fail_state_;
    CloseLowerStream();
    Finish(std::move(result));
    return;
  }
  // A stream that reached its limit, or was replaced, is closed ("Are we finished with this reader").
  if (!state_.stream_open || state_.stream_id != lower_logical_) CloseLowerStream();
  if (out_.empty() && fetch_begin == pos_ && fetch_end == range_.end && result->size() == 1) {
    Finish(std::move(result));  // one request for the whole read, nothing skipped: its bytes as they came
    return;
  }
  for (Slice& s : SubSlices(*result, pos_ - fetch_begin, fetch_end - pos_)) out_.push_back(std::move(s));
  pos_ = fetch_end;
  if (pos_ < range_.end) {
    Issue();
    return;
  }
  Finish(std::move(out_));
}

void GcsfuseReader::Finish(Result<Slices>&& result) {
  // Runs from the lower callback, already on the scheduler.
  current_ = 0;
  ReadCallback done = std::move(done_);
  out_.clear();  // `result` never refers to it: a read's pieces reach Finish moved into a Result
  done(std::move(result));
}

}  // namespace pflab::policies
