// An ordered map from 64-bit keys kept as a list of short sorted arrays ("chunks"), for the oracle's
// planner: its std::map walks (the bytes planned so far, the pieces live, the batch's missing bytes)
// were most of its time on random reads, a cache miss per tree level on maps of up to a million
// entries. Here a search is a binary search over the chunks' first keys (a small contiguous array)
// and one within a chunk; an insertion or erasure moves at most a chunk's entries.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace pflab::policies {

/// std::upper_bound over [first, first + n) by `key_of(element)`: the first element whose key is
/// greater than `key`. The halving selects by a conditional move, not a branch: the planner's
/// searches land at random, so a branch per step was a mispredicted branch per step.
template <typename T, typename KeyOf>
const T* UpperBoundBy(const T* first, std::size_t n, std::uint64_t key, KeyOf key_of) {
  if (n == 0) return first;
  while (n > 1) {
    const std::size_t half = n / 2;
    first = key_of(first[half]) <= key ? first + half : first;
    n -= half;
  }
  return first + (key_of(*first) <= key ? 1 : 0);
}

/// std::lower_bound likewise: the first element whose key is at least `key`.
template <typename T, typename KeyOf>
const T* LowerBoundBy(const T* first, std::size_t n, std::uint64_t key, KeyOf key_of) {
  if (n == 0) return first;
  while (n > 1) {
    const std::size_t half = n / 2;
    first = key_of(first[half]) < key ? first + half : first;
    n -= half;
  }
  return first + (key_of(*first) < key ? 1 : 0);
}

/// Unique keys in order, each with a value; positions (`Pos`) are invalidated by any change.
template <typename V>
class SortedChunks {
 public:
  using Entry = std::pair<std::uint64_t, V>;
  /// An entry's place: chunk `c`, index `i` within it; End() is {chunks, 0}.
  struct Pos {
    std::size_t c = 0;
    std::size_t i = 0;
    bool operator==(const Pos&) const = default;
  };

  bool empty() const { return chunks_.empty(); }
  std::size_t size() const { return size_; }
  void clear() {
    chunks_.clear();
    firsts_.clear();
    size_ = 0;
  }

  Pos Begin() const { return {0, 0}; }
  Pos End() const { return {chunks_.size(), 0}; }
  Entry& At(Pos p) { return chunks_[p.c][p.i]; }
  const Entry& At(Pos p) const { return chunks_[p.c][p.i]; }
  Pos Next(Pos p) const { return ++p.i < chunks_[p.c].size() ? p : Pos{p.c + 1, 0}; }
  Pos Prev(Pos p) const { return p.i > 0 ? Pos{p.c, p.i - 1} : Pos{p.c - 1, chunks_[p.c - 1].size() - 1}; }

  /// The first entry whose key is greater than `key` (End() if none).
  Pos UpperBound(std::uint64_t key) const {
    const std::size_t c = static_cast<std::size_t>(
        UpperBoundBy(firsts_.data(), firsts_.size(), key, [](std::uint64_t k) { return k; }) - firsts_.data());
    if (c == 0) return Begin();
    const auto& chunk = chunks_[c - 1];
    const Entry* it = UpperBoundBy(chunk.data(), chunk.size(), key, [](const Entry& e) { return e.first; });
    return Normal({c - 1, static_cast<std::size_t>(it - chunk.data())});
  }
  /// The first entry whose key is at least `key` (End() if none).
  Pos LowerBound(std::uint64_t key) const {
    const std::size_t c = static_cast<std::size_t>(
        LowerBoundBy(firsts_.data(), firsts_.size(), key, [](std::uint64_t k) { return k; }) - firsts_.data());
    if (c == 0) return Begin();
    const auto& chunk = chunks_[c - 1];
    const Entry* it = LowerBoundBy(chunk.data(), chunk.size(), key, [](const Entry& e) { return e.first; });
    return Normal({c - 1, static_cast<std::size_t>(it - chunk.data())});
  }
  /// The last entry whose key is at most `key`, else the first (as the planner's map walks began).
  Pos FloorOrBegin(std::uint64_t key) const {
    const Pos p = UpperBound(key);
    return p == Begin() ? p : Prev(p);
  }

  /// Adds `key` -> `value` unless the key is present (std::map::emplace).
  void Emplace(std::uint64_t key, V value) {
    const Pos p = LowerBound(key);
    if (p != End() && At(p).first == key) return;
    InsertAt(p, Entry{key, std::move(value)});
  }
  /// Removes the entry of `key`, if any (std::map::erase by key).
  void Erase(std::uint64_t key) {
    const Pos p = LowerBound(key);
    if (p != End() && At(p).first == key) Erase(p, Next(p));
  }

  /// Puts `entry` before position `p` (its key must fit there).
  void InsertAt(Pos p, Entry entry) {
    ++size_;
    if (chunks_.empty()) {
      chunks_.emplace_back().push_back(std::move(entry));
      firsts_.push_back(chunks_[0][0].first);
      return;
    }
    if (p.c == chunks_.size()) p = {p.c - 1, chunks_.back().size()};  // at the end: the last chunk's
    auto& chunk = chunks_[p.c];
    chunk.insert(chunk.begin() + static_cast<std::ptrdiff_t>(p.i), std::move(entry));
    firsts_[p.c] = chunk.front().first;
    if (chunk.size() >= kMaxChunk) {
      std::vector<Entry> upper(chunk.begin() + kMaxChunk / 2, chunk.end());
      chunk.resize(kMaxChunk / 2);
      const std::uint64_t first = upper.front().first;
      chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(p.c) + 1, std::move(upper));
      firsts_.insert(firsts_.begin() + static_cast<std::ptrdiff_t>(p.c) + 1, first);
    }
  }

  /// Replaces the entries [first, last) (at least one) by `entry`, whose key must fit there.
  void Replace(Pos first, Pos last, Entry entry) {
    const Pos rest = Next(first);
    At(first) = std::move(entry);
    if (first.i == 0) firsts_[first.c] = At(first).first;
    Erase(rest, last);
  }

  /// Removes the entries [first, last).
  void Erase(Pos first, Pos last) {
    if (first == last) return;
    // From the last chunk touched back to the first, so earlier positions stay valid.
    const std::size_t end_chunk = last.i == 0 ? last.c : last.c + 1;
    for (std::size_t c = end_chunk; c-- > first.c;) {
      auto& chunk = chunks_[c];
      const std::size_t b = c == first.c ? first.i : 0;
      const std::size_t e = c == last.c ? last.i : chunk.size();
      size_ -= e - b;
      chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(b), chunk.begin() + static_cast<std::ptrdiff_t>(e));
      if (chunk.empty()) {
        chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c));
        firsts_.erase(firsts_.begin() + static_cast<std::ptrdiff_t>(c));
      } else {
        firsts_[c] = chunk.front().first;
      }
    }
  }

  /// Calls f(entry) for every entry in key order.
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& chunk : chunks_) {
      for (const Entry& e : chunk) f(e);
    }
  }

 private:
  static constexpr std::size_t kMaxChunk = 256;

  Pos Normal(Pos p) const { return p.i < chunks_[p.c].size() ? p : Pos{p.c + 1, 0}; }

  std::vector<std::vector<Entry>> chunks_;  // each sorted and non-empty, in key order
  std::vector<std::uint64_t> firsts_;       // by chunk: its first key
  std::size_t size_ = 0;
};

}  // namespace pflab::policies
