// Half-open byte ranges and object identities.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace pflab {

/// A half-open byte range [begin, end). HTTP's inclusive `bytes=a-b` is converted only at the HTTP edge.
struct ByteRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  std::uint64_t size() const { return end > begin ? end - begin : 0; }
  bool empty() const { return end <= begin; }
  bool Contains(std::uint64_t offset) const { return offset >= begin && offset < end; }
  bool Contains(const ByteRange& other) const { return other.begin >= begin && other.end <= end; }
  ByteRange Intersect(const ByteRange& other) const {
    ByteRange r{std::max(begin, other.begin), std::min(end, other.end)};
    if (r.end < r.begin) r.end = r.begin;
    return r;
  }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

/// Identifies one immutable version of an object in a bucket.
struct ObjectRef {
  std::string bucket;
  std::string name;
  std::int64_t generation = 0;
  std::uint64_t size = 0;
};

}  // namespace pflab
