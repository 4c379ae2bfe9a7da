// A file-like handle over the top of a stack: position, read, seek.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "engine/source.h"

namespace pflab {

/// A file-like handle over a Source, as an application sees an open object. It clamps reads to the
/// object, emits the application-level read_start/read_end events, and marks delivered bytes so the
/// run can tell useful from wasted fetched bytes.
class Reader {
 public:
  using ReadCallback = Source::ReadCallback;

  Reader(LayerContext ctx, Source* top) : ctx_(ctx), top_(top) {}

  std::uint64_t position() const { return position_; }
  std::uint64_t size() const { return top_->size(); }
  void Seek(std::uint64_t position) { position_ = position; }
  /// Reads up to `length` bytes at the current position and advances it by what was delivered. A read
  /// that crosses EOF is cut there, and the layer on top learns the end it asked for (ReadPastEof).
  void Read(std::uint64_t length, ReadCallback done);
  /// Reads [offset, offset+length) and leaves the position after it (pread plus seek).
  void ReadAt(std::uint64_t offset, std::uint64_t length, ReadCallback done) {
    Seek(offset);
    Read(length, std::move(done));
  }
  /// ReadAt, for a caller that calls it last in its scheduler task (the replayer): when the stack
  /// serves the read from memory and its completion would be the next event anyway
  /// (Source::ReadOrServe), the read completes before this returns, with the same events as through the
  /// scheduler, and its result is returned; `done` is then not called.
  std::optional<Result<Slices>> ReadAtOrServe(std::uint64_t offset, std::uint64_t length, ReadCallback done);

 private:
  // Starts a read at the position; `served`: as in Source::ReadOrServe, or null for Read.
  void Start(std::uint64_t length, ReadCallback done, std::optional<Result<Slices>>* served);
  // The reader's part of a read's completion: delivered bytes marked, position, the read_end event.
  void Finish(const Result<Slices>& result);

  LayerContext ctx_;
  Source* top_;
  std::uint64_t position_ = 0;
  ByteRange pending_range_;
  ReadCallback pending_done_;
};

}  // namespace pflab
