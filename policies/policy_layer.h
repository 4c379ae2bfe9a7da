// The base of every policy layer: forwarding a read to the layer below with fetch events, completing
// a read from slices already held, and guarding callbacks against a layer destroyed in the meantime.
#pragma once

#include <algorithm>
#include <memory>
#include <span>

#include "engine/alive_flag.h"
#include "engine/source.h"

namespace pflab::policies {

/// Base for policy layers over one lower Source. It tags the requests the policy makes of the layer
/// below with fetch_* events, and guards callbacks with a liveness token so a layer destroyed while
/// requests are in flight never runs a late callback into freed memory.
class PolicyLayer : public Source {
 public:
  PolicyLayer(LayerContext ctx, Source* lower) : ctx_(ctx), lower_(lower), alive_(AliveFlag::Make()) {}
  ~PolicyLayer() override { *alive_ = false; }
  std::uint64_t size() const override { return lower_->size(); }
  /// Hints go to the layer below unless a policy uses them.
  void Hint(std::span<const ByteRange> ranges) override { lower_->Hint(ranges); }
  /// Read; a read the policy completes with CompleteLater (or Deliver) from inside it is served through
  /// `*served` when the scheduler allows (Source::ReadOrServe).
  ReadId ReadOrServe(ByteRange range, ReadCallback done, std::optional<Result<Slices>>* served) override {
    served_ = served;
    const ReadId id = Read(range, std::move(done));
    served_ = nullptr;
    return id;
  }

 protected:
  /// Asks the lower layer for `range`, emitting fetch_start now and fetch_end/fail/cancel on completion.
  /// `done` does not run if this layer has been destroyed in the meantime.
  // A template rather than a ReadCallback parameter: wrapping an already type-erased callback would
  // nest one InlineFunction in another and push the wrapper out of inline storage onto the heap.
  template <typename F>
  ReadId FetchBelow(ByteRange range, std::uint32_t max_parts, F&& done) {
    if (ctx_.layer_fetches) ctx_.Emit(EventType::kFetchStart, name(), range.begin, range.size());
    auto callback = [this, alive = alive_, range, done = std::forward<F>(done)](Result<Slices>&& result) mutable {
      if (!*alive) return;
      OnFetchedBelow(range, result);
      done(std::move(result));
    };
    return max_parts ? lower_->ReadSplit(range, max_parts, std::move(callback))
                     : lower_->Read(range, std::move(callback));
  }
  /// Takes the next `range.size()` bytes of a stream opened on the layer below (which start at
  /// `range.begin`), with the same events as FetchBelow.
  template <typename F>
  void PullBelow(StreamId stream, ByteRange range, F&& done) {
    if (ctx_.layer_fetches) ctx_.Emit(EventType::kFetchStart, name(), range.begin, range.size());
    lower_->ReadStream(stream, range.size(),
                       [this, alive = alive_, range, done = std::forward<F>(done)](Result<Slices>&& result) mutable {
                         if (!*alive) return;
                         OnFetchedBelow(range, result);
                         done(std::move(result));
                       });
  }
  /// Emits the fetch_end/fail/cancel event of a request made with FetchBelow or PullBelow.
  void OnFetchedBelow(ByteRange range, const Result<Slices>& result);
  /// Completes a read on the scheduler (never inline, per the Source contract).
  void CompleteLater(ReadCallback done, Result<Slices>&& result);
  /// The same for a read's bytes: a read served in place gets them with one move (a read served from
  /// memory, on the simulator's hot path, would otherwise move them into a Result and that again).
  void CompleteLater(ReadCallback done, Slices&& slices);
  /// Completes a read now, or through the scheduler when still inside this layer's Read() (the
  /// Source contract forbids running `done` from inside Read()). `R`: Result<Slices> or Slices.
  template <typename R>
  void Deliver(ReadCallback done, R&& result, bool inside_read) {
    if (inside_read) {
      CompleteLater(std::move(done), std::forward<R>(result));
    } else {
      done(std::forward<R>(result));
    }
  }

  /// Clamps `range` to the object. When nothing is left to read it schedules `done` with no bytes (as
  /// fsspec returns b"" at or past the end) and returns false; the caller then returns at once.
  bool ClampToObject(ByteRange& range, ReadCallback& done) {
    const std::uint64_t size = lower_->size();
    range.end = std::min(range.end, size);
    if (range.begin < size && !range.empty()) return true;
    CompleteLater(std::move(done), Slices{});
    return false;
  }

  LayerContext ctx_;
  Source* lower_;
  AliveFlag alive_;

 private:
  // Where a read completed now goes when the caller may complete it itself (see ReadOrServe); null
  // when it must be posted. Asked once per ReadOrServe call.
  std::optional<Result<Slices>>* ServedNow();

  // During ReadOrServe: where the read's result goes if its completion can be handed back. The first
  // CompleteLater of the call, the read's own (a layer takes one read at a time), takes it.
  std::optional<Result<Slices>>* served_ = nullptr;
};

}  // namespace pflab::policies
