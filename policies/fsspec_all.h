// fsspec AllBytes ("all"): the whole file in memory.
//
// Origin: fsspec/filesystem_spec, fsspec/caching.py, class AllBytes, master 669de5e1 (same request in
// 2022.11.0). No parameters (fsspec ignores the block size).
//
// Rule: one request [0, size) for the whole file, then every read is served from memory. fsspec sends
// it in the constructor, when the file is opened; a layer has no open step, so we send it on the first
// read (same request, the first read waits for it). If it fails, that read fails and the next read
// tries again (in fsspec, opening the file would fail). Counters as fsspec master: miss 1 for the
// fill, hit +1 per read. Memory: the object.
#pragma once

#include <cstdint>

#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// fsspec AllBytes as a policy layer.
class FsspecAllBytes final : public PolicyLayer {
 public:
  using PolicyLayer::PolicyLayer;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  const char* name() const override { return "fsspec-all"; }

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  bool held_ = false;
  Slices data_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  ReadId next_id_ = 1;
  ReadId pending_id_ = 0;
  ReadId pending_lower_ = 0;
  ByteRange range_;
  ReadCallback done_;
};

/// The `fsspec-all` entry.
PolicyEntry FsspecAllBytesEntry();

}  // namespace pflab::policies
