// A policy from outside pflab (a C++ plugin, or a Python class through the Python bridge) as a layer of
// a stack: pflab's side of the plugin interface (include/pflab/plugin.h).
//
// The layer hands reads to the plugin's Layer and gives it a Host: fetches go to the layer below with
// the usual fetch events, timers go to the scheduler, and bytes stay in pflab's chunks behind Data
// handles. Completions always reach the plugin as separate calls (never inside one of its calls to the
// Host), and a finished read reaches the layer above through the scheduler, so a plugin is never
// re-entered.
//
// Accounting. Fetched bytes are held, and counted as memory, while the plugin holds a handle to them.
// A plugin may also copy bytes (a Python cache returns new `bytes`): such a copy is charged as memory
// while it lives, and what the application receives of it is credited to the fetch that last brought
// those bytes into this layer before the copy was made, even if that fetch's chunk is gone by then (an
// mmap cache drops the fetched bytes once written to its file). So "fetched" and "wasted" count the
// same way as for a built-in policy that delivered the fetched bytes themselves. (A plugin that
// delivers the same fetched bytes both zero-copy and, after releasing them, as a copy again, may see
// them credited twice; Python policies always copy, so for them the count is exact.)
//
// A layer over another policy layer may have one fetch in flight at a time (Source's contract); a
// second fails at once, saying the layer belongs directly on the fetcher (a Python cache that fetches
// in asyncio.to_thread jobs side by side, for one).
//
// Limits. Each read must finish within the read deadline (600 s of the run's clock unless the plugin
// sets another): otherwise it fails with kDeadlineExceeded and the layer stops, cancelling what it has
// in flight, so a policy that never answers cannot hold a run forever; every later read of the layer
// fails at once with the same reason. A plugin that throws a C++ exception stops the layer likewise.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/buffer.h"
#include "engine/units.h"
#include "pflab/plugin.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::plugins {

/// Which fetch last brought each byte of the object into a layer, so copies the layer delivers are
/// credited to the chunks they were copied from (see the file comment).
class FetchLedger {
 public:
  /// One fetch: where its bytes are (weakly: the ledger keeps no memory alive) and what of them was
  /// credited as delivered.
  struct Record {
    struct Piece {
      WeakChunkRef chunk;
      std::uint64_t chunk_offset = 0;
      ByteRange range;  // object bytes
    };
    std::vector<Piece> pieces;
    std::vector<ByteRange> credited;  // object bytes, sorted and disjoint
    MemoryAccount* account = nullptr;

    /// Credits object bytes `range` (inside the fetch) as delivered: to the chunk while it lives, else
    /// to the account, each byte once.
    void Credit(ByteRange range);
  };
  using Source = std::pair<ByteRange, std::shared_ptr<Record>>;

  /// Records a completed fetch of `range` that returned `slices`.
  void Add(ByteRange range, const Slices& slices, MemoryAccount* account);
  /// For each part of `range`, the fetch that last brought it (parts no fetch brought are left out).
  std::vector<Source> Attribute(ByteRange range) const;

 private:
  struct Span {
    std::uint64_t end = 0;
    std::shared_ptr<Record> record;
  };
  std::map<std::uint64_t, Span> coverage_;  // by begin; disjoint
};

/// How a plugin layer is set up (from the policy's registry entry).
struct PluginLayerSetup {
  const char* event_name = "";  // static storage: the layer's name in events
  std::string spec_name;        // the policy's name, for messages
  plugin::Factory* factory = nullptr;
};

/// The Host of one plugin layer, and that layer as a Source.
class PluginLayer final : public policies::PolicyLayer, private plugin::Host {
 public:
  /// Creates the plugin's layer with `params`. A factory that returns no layer gives a layer whose
  /// reads fail saying so.
  PluginLayer(const policies::StackEnv& env, Source* lower, PluginLayerSetup setup, const plugin::Params& params);
  ~PluginLayer() override;

  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override;
  void Hint(std::span<const ByteRange> ranges) override;
  const char* name() const override { return setup_.event_name; }

  /// Handles the plugin holds (for tests: a plugin that leaks handles leaks memory in a run).
  std::size_t data_handles() const { return data_.size(); }

 private:
  struct PendingRead {
    ReadId id = 0;
    ByteRange range;
    ReadCallback done;
    TimerId deadline = 0;
  };
  struct PendingFetch {
    ReadId lower = 0;
    ByteRange range;
  };
  struct DataEntry {
    Slices slices;
    ByteRange range;
  };

  // plugin::Host
  std::int64_t Now() override { return ctx_.scheduler->Now(); }
  std::uint64_t ObjectSize() override { return lower_->size(); }
  std::uint64_t Seed() override { return seed_; }
  const char* LayerName() override { return setup_.spec_name.c_str(); }
  plugin::FetchId Fetch(plugin::Range range, std::uint32_t max_parts) override;
  void CancelFetch(plugin::FetchId id) override;
  plugin::TimerId SetTimer(std::int64_t at_ns) override;
  bool CancelTimer(plugin::TimerId id) override;
  void Complete(plugin::ReadId read, plugin::DataId data) override;
  void Fail(plugin::ReadId read, const plugin::Failure& failure) override;
  void SetReadDeadline(std::int64_t ns) override { read_deadline_ = ns; }
  plugin::DataId DataCopyIn(std::uint64_t object_offset, const void* bytes, std::uint64_t length) override;
  plugin::DataId DataJoin(const plugin::DataId* parts, std::size_t count) override;
  plugin::DataId DataSub(plugin::DataId id, std::uint64_t skip, std::uint64_t length) override;
  plugin::DataId DataShare(plugin::DataId id) override;
  plugin::Range DataRange(plugin::DataId id) override;
  void DataCopyOut(plugin::DataId id, std::uint64_t skip, std::uint64_t length, void* out) override;
  void DataRelease(plugin::DataId id) override;

  plugin::DataId AddData(Slices slices, ByteRange range);
  void OnFetchDone(plugin::FetchId id, Result<Slices>&& result);
  // Finishes the pending read (through the scheduler, as the Source contract asks).
  void FinishRead(Result<Slices> result);
  // Stops the layer for good: fails the pending read and every later one with `error`, destroys the
  // plugin's layer and cancels what it left in flight.
  void Stop(Error error);
  // Runs a call into the plugin, turning a C++ exception into Stop.
  template <typename F>
  void CallPlugin(const char* what, F&& call);
  std::string ReadText(ByteRange range) const;

  PluginLayerSetup setup_;
  ObjectRef object_;
  std::uint64_t object_seed_ = 0;
  std::uint64_t seed_ = 0;
  MemoryAccount* account_ = nullptr;
  std::unique_ptr<plugin::Layer> layer_;
  std::optional<Error> stopped_;  // why the layer stopped
  Nanos read_deadline_ = 600 * kSecond;
  ReadId next_read_ = 1;
  std::optional<PendingRead> read_;
  plugin::FetchId next_fetch_ = 1;
  std::unordered_map<plugin::FetchId, PendingFetch> fetches_;
  plugin::TimerId next_timer_ = 1;
  std::unordered_map<plugin::TimerId, TimerId> timers_;  // plugin's id -> scheduler's
  plugin::DataId next_data_ = 1;
  std::unordered_map<plugin::DataId, DataEntry> data_;
  FetchLedger ledger_;
  bool payload_ = true;  // whether fetched bytes carry payload (copies follow them)
  // The layer below is a policy layer, which takes one read at a time; only the fetcher takes more.
  bool one_fetch_at_a_time_ = false;
};

}  // namespace pflab::plugins
