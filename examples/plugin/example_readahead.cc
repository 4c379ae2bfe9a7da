// An example pflab plugin: a read-ahead cache whose window doubles while the reader goes forward and
// drops back to its first size on any jump, as Linux's readahead does in spirit.
//
// Build it against pflab's one public header (nothing else of pflab is linked):
//
//   g++ -std=c++20 -shared -fPIC -I PFLAB/include example_readahead.cc -o libexample_readahead.so
//
// (the pflab build does this as the target pflab_example_plugin), then use it like a built-in policy:
//
//   pflab policies --plugin ./libexample_readahead.so
//   pflab compare trace.jsonl --plugin ./libexample_readahead.so
//       --policies 'example-readahead(initial=256KiB,max=16MiB),fsspec-readahead'
//
// Requests, for reads [s, e): a read inside the window is served from it (no request). A read that
// starts inside the window, or right at its end, is sequential: the window size doubles (up to `max`)
// and one request fetches from the window's end to max(e, window end + size); the old window's tail
// and the new bytes become the window. Any other read resets the size to `initial` and fetches
// [s, max(e, s + initial)). Requests are clamped to the object.
#include <algorithm>
#include <cstdint>

#include "pflab/plugin.h"

namespace {

using pflab::plugin::Data;
using pflab::plugin::Failure;
using pflab::plugin::FetchId;
using pflab::plugin::Host;
using pflab::plugin::Range;
using pflab::plugin::ReadId;
using pflab::plugin::TimerId;

class DoublingReadahead final : public pflab::plugin::Layer {
 public:
  DoublingReadahead(Host* host, std::uint64_t initial, std::uint64_t max)
      : host_(host), initial_(initial), max_(max), size_(initial) {}

  void Read(ReadId id, Range range) override {
    const Range have = window_.range();
    if (window_ && range.begin >= have.begin && range.end <= have.end) {
      host_->Complete(id, window_.Sub(range.begin - have.begin, range.size()).Release());
      return;
    }
    const bool sequential = window_ && range.begin >= have.begin && range.begin <= have.end;
    size_ = sequential ? std::min(max_, size_ * 2) : initial_;
    const std::uint64_t from = sequential ? have.end : range.begin;
    const std::uint64_t to = std::min(host_->ObjectSize(), std::max(range.end, from + size_));
    pending_ = id;
    wanted_ = range;
    // The part of the window the read still needs is kept; the rest of the window is dropped.
    kept_ =
        sequential && range.begin < have.end ? window_.Sub(range.begin - have.begin, have.end - range.begin) : Data();
    window_.Reset();
    fetch_ = host_->Fetch({from, to}, 0);
  }

  void Cancel(ReadId id) override {
    if (id != pending_) return;
    host_->CancelFetch(fetch_);  // pflab fails the read with kCancelled
    pending_ = 0;
  }

  void OnFetched(FetchId id, Data data, const Failure* failure) override {
    if (id != fetch_) return;
    fetch_ = 0;
    const ReadId read = pending_;
    pending_ = 0;
    if (failure) {
      kept_.Reset();
      if (read) host_->Fail(read, *failure);
      return;
    }
    if (kept_) {
      const Data parts[2] = {std::move(kept_), std::move(data)};
      window_ = Data::Join(host_, parts, 2);
    } else {
      window_ = std::move(data);
    }
    if (read) host_->Complete(read, window_.Sub(0, wanted_.size()).Release());
  }

  void OnTimer(TimerId) override {}

 private:
  Host* host_;
  std::uint64_t initial_, max_, size_;
  Data window_;  // the bytes kept for the next reads
  Data kept_;    // the window's tail a pending read still needs
  ReadId pending_ = 0;
  Range wanted_;
  FetchId fetch_ = 0;
};

class Factory final : public pflab::plugin::Factory {
 public:
  const char* Check(const pflab::plugin::Params& params) override {
    return params.Number("max") < params.Number("initial") ? "max must be at least initial" : nullptr;
  }
  pflab::plugin::Layer* Create(Host* host, const pflab::plugin::Params& params) override {
    return new DoublingReadahead(host, params.Number("initial"), params.Number("max"));
  }
};

}  // namespace

PFLAB_PLUGIN(registrar) {
  static const pflab::plugin::Param params[] = {
      {.name = "initial",
       .kind = pflab::plugin::ParamKind::kSize,
       .description = "first window, and the window after a jump",
       .default_value = "128KiB",
       .min = 1},
      {.name = "max",
       .kind = pflab::plugin::ParamKind::kSize,
       .description = "largest window",
       .default_value = "8MiB",
       .min = 1},
  };
  pflab::plugin::PolicyInfo info;
  info.name = "example-readahead";
  info.origin = "examples/plugin/example_readahead.cc (a pflab plugin example)";
  info.description = "read-ahead whose window doubles on sequential reads and resets on jumps";
  info.params = params;
  info.param_count = 2;
  static Factory factory;
  registrar->AddPolicy(info, &factory);
}
