#include "traces/random_mix.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace pflab::traces {
namespace {

// One read of a stream before the streams are merged: its think time before it, and the hint (if
// any) announced just before it.
struct PendingRead {
  Nanos think = 0;
  std::uint32_t object = 0;
  ByteRange range;
  std::vector<ByteRange> hint;
  bool hinted = false;
};

class Mixer {
 public:
  explicit Mixer(const RandomMixOptions& o) : o_(o), rng_(o.seed * 0x9e3779b97f4a7c15ull + 0x5851f42d4c957f2dull) {}

  Trace Run() {
    Trace trace;
    trace.name = "mix";
    const std::uint32_t objects = o_.objects ? o_.objects : static_cast<std::uint32_t>(Uniform(1, 3));
    for (std::uint32_t i = 0; i < objects; ++i) {
      const std::uint64_t size = LogUniform(o_.min_object_size, o_.max_object_size);
      trace.objects.push_back({"o" + std::to_string(i), "pflab", "mix-" + std::to_string(i) + ".bin", size});
    }
    const std::uint32_t streams = o_.streams ? o_.streams : static_cast<std::uint32_t>(Uniform(1, 4));
    const std::uint64_t total = o_.reads ? o_.reads : Uniform(16, 160);
    streams_.assign(streams, {});
    objects_ = objects;
    history_.assign(static_cast<std::size_t>(streams) * objects, {});
    std::uint64_t made = 0;
    while (made < total) made += Segment(trace, total - made);
    Merge(trace);
    trace.source = {{"generator", "mix"},
                    {"seed", o_.seed},
                    {"reads", total},
                    {"streams", streams},
                    {"objects", objects},
                    {"read_size", {o_.min_read_size, o_.max_read_size}},
                    {"object_size", {o_.min_object_size, o_.max_object_size}},
                    {"max_think_ns", o_.max_think_ns}};
    return trace;
  }

 private:
  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  // Log-uniform on [lo, hi], so every order of magnitude is as likely.
  std::uint64_t LogUniform(std::uint64_t lo, std::uint64_t hi) {
    if (lo >= hi) return lo;
    const double a = std::log(static_cast<double>(lo));
    const double b = std::log(static_cast<double>(hi) + 1.0);
    const double x = std::exp(std::uniform_real_distribution<double>(a, b)(rng_));
    return std::clamp(static_cast<std::uint64_t>(x), lo, hi);
  }

  // Appends one segment of up to `left` reads to a random stream; returns the reads added (>= 1).
  std::uint64_t Segment(const Trace& trace, std::uint64_t left) {
    const std::uint32_t stream = static_cast<std::uint32_t>(Uniform(0, streams_.size() - 1));
    const std::uint32_t object = static_cast<std::uint32_t>(Uniform(0, trace.objects.size() - 1));
    const std::uint64_t size = trace.objects[object].size;
    const std::uint64_t read = std::min(size, LogUniform(o_.min_read_size, o_.max_read_size));
    const Nanos think =
        Uniform(0, 1) == 0
            ? 0
            : static_cast<Nanos>(LogUniform(kMicrosecond, std::max<std::uint64_t>(kMicrosecond, o_.max_think_ns)));
    const std::uint64_t want = std::min<std::uint64_t>(left, Uniform(1, 24));
    const std::uint64_t blocks = std::max<std::uint64_t>(1, size / read);
    std::vector<ByteRange> reads;
    std::vector<ByteRange> hint;
    auto add = [&](std::uint64_t offset, std::uint64_t length) {
      if (reads.size() >= want || offset >= size) return false;
      reads.push_back({offset, offset + std::min(length, size - offset)});
      return true;
    };
    auto block = [&](std::uint64_t k) { return (k % blocks) * read; };
    switch (Uniform(0, 7)) {
      case 0: {  // sequential run
        for (std::uint64_t at = Uniform(0, blocks - 1) * read; add(at, read); at += read) {
        }
        break;
      }
      case 1:  // random aligned reads
        while (reads.size() < want) add(block(Uniform(0, blocks - 1)), read);
        break;
      case 2: {  // backtrack: b, b+1, b+2, b, ...
        for (std::uint64_t b = Uniform(0, blocks - 1); reads.size() < want; b += 3) {
          for (std::uint64_t k : {b, b + 1, b + 2, b}) add(block(k), read);
        }
        break;
      }
      case 3: {  // visits-home: h, h+1, h, h+2, h, ...
        const std::uint64_t home = Uniform(0, blocks - 1);
        add(block(home), read);
        for (std::uint64_t k = 1; reads.size() < want; ++k) {
          add(block(home + k), read);
          add(block(home), read);
        }
        break;
      }
      case 4: {  // strided
        const std::uint64_t stride = read * Uniform(1, 8);
        for (std::uint64_t at = Uniform(0, blocks - 1) * read; add(at, read); at += read + stride) {
        }
        break;
      }
      case 5: {  // footer-then-columns: tail, footer, then two column chunks read in order
        const std::uint64_t tail = std::min<std::uint64_t>(8, size);
        const std::uint64_t footer = std::min<std::uint64_t>(64 << 10, (size - tail) / 8);
        add(size - tail, tail);
        if (footer > 0) add(size - tail - footer, footer);
        const std::uint64_t chunk = (size - tail - footer) / 32;
        if (chunk == 0) break;
        const std::uint64_t first = Uniform(0, 30);
        const std::uint64_t second = Uniform(first + 1, 31);
        const std::size_t hint_at = reads.size();
        for (std::uint64_t c : {first, second}) {
          for (std::uint64_t at = c * chunk; at < (c + 1) * chunk; at += read) {
            if (!add(at, std::min(read, (c + 1) * chunk - at))) break;
          }
        }
        if (o_.hints && Uniform(0, 1) == 1 && hint_at < reads.size()) {
          hint = {{first * chunk, (first + 1) * chunk}, {second * chunk, (second + 1) * chunk}};
          Emit(stream, object, think, reads, hint_at, hint);
          return reads.size();
        }
        break;
      }
      case 6: {  // re-reads of this stream's earlier reads of the object
        const auto& past = history_[stream * objects_ + object];
        while (!past.empty() && reads.size() < want) {
          const ByteRange r = past[Uniform(0, past.size() - 1)];
          reads.push_back(r);
        }
        break;
      }
      case 7:  // the whole object in one read, as zarr reads a chunk file
        if (size <= o_.max_read_size) add(0, size);
        break;
    }
    if (reads.empty()) add(block(Uniform(0, blocks - 1)), read);  // a pattern that found nothing to read
    Emit(stream, object, think, reads, reads.size(), hint);
    return reads.size();
  }

  void Emit(std::uint32_t stream, std::uint32_t object, Nanos think, const std::vector<ByteRange>& reads,
            std::size_t hint_at, const std::vector<ByteRange>& hint) {
    auto& past = history_[stream * objects_ + object];
    for (std::size_t i = 0; i < reads.size(); ++i) {
      PendingRead p;
      p.think = think;
      p.object = object;
      p.range = reads[i];
      if (i == hint_at) {
        p.hint = hint;
        p.hinted = true;
      }
      streams_[stream].push_back(std::move(p));
      past.push_back(reads[i]);
    }
  }

  // Gives every read its issue time (its stream's start plus the think times before it) and merges
  // the streams by time; a hint goes just before its read.
  void Merge(Trace& trace) {
    struct Timed {
      Nanos t;
      std::uint32_t stream;
      std::size_t index;
    };
    std::vector<Timed> all;
    for (std::uint32_t s = 0; s < streams_.size(); ++s) {
      Nanos t = s == 0 ? 0 : static_cast<Nanos>(Uniform(0, 2 * kMillisecond));
      for (std::size_t i = 0; i < streams_[s].size(); ++i) {
        if (i > 0) t += streams_[s][i].think;
        all.push_back({t, s, i});
      }
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const Timed& a, const Timed& b) { return a.t != b.t ? a.t < b.t : a.stream < b.stream; });
    for (const Timed& x : all) {
      const PendingRead& p = streams_[x.stream][x.index];
      if (p.hinted) trace.hints.push_back(TraceHint{x.t, x.stream, p.object, p.hint, trace.records.size()});
      trace.records.push_back(TraceRecord{x.t, x.stream, p.object, p.range.begin, p.range.size(), -1, 0});
    }
  }

  RandomMixOptions o_;
  std::mt19937_64 rng_;
  std::vector<std::vector<PendingRead>> streams_;
  std::vector<std::vector<ByteRange>> history_;  // by stream * objects_ + object
  std::size_t objects_ = 1;
};

}  // namespace

Result<Trace> RandomMix(const RandomMixOptions& o) {
  if (o.min_object_size == 0 || o.min_read_size == 0) return InvalidArgument("mix: sizes must be positive");
  if (o.min_object_size > o.max_object_size) return InvalidArgument("mix: min_object_size above max_object_size");
  if (o.min_read_size > o.max_read_size) return InvalidArgument("mix: min_read_size above max_read_size");
  if (o.max_think_ns < 0) return InvalidArgument("mix: max_think_ns is negative");
  return Mixer(o).Run();
}

}  // namespace pflab::traces
