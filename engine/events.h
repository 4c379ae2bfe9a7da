// Typed events that every layer emits; metrics and timelines are computed from them.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/result.h"
#include "engine/scheduler.h"

namespace pflab {

/// What happened. The names (see EventTypeName) are part of the event-log contract.
enum class EventType : std::uint8_t {
  kReadStart,    // the application asked for [offset, offset+length)
  kReadEnd,      // ... and got `bytes` of it
  kFetchStart,   // a layer asked the layer below (or the network) for a range
  kFetchEnd,     // ... and got it
  kFetchCancel,  // ... and cancelled it; `bytes` is what had arrived
  kFetchFail,    // ... and it failed
  kRetry,        // a failed backend request is being tried again
  kVerifyFail,   // a read delivered bytes that differ from the object's (byte checks only); `offset` is the
                 // first wrong byte, `bytes` the read's delivered length
};

const char* EventTypeName(EventType type);

/// One event. `layer` points at a string with static storage duration (the layer's name).
struct Event {
  Nanos t_ns = 0;
  EventType type = EventType::kReadStart;
  const char* layer = "";
  std::uint32_t stream = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t bytes = 0;  // bytes delivered/transferred where that differs from length
  /// Why, on fetch_fail (that attempt's error, `attempts` its number), on the read_end of a failed read
  /// and on verify_fail; null on every other event, so the success path carries no strings. Points at
  /// the emitter's error: valid only during OnEvent (a sink that keeps events copies what it needs).
  const Error* error = nullptr;
};

/// Receives events. Implementations must be cheap: the simulator emits several per read.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const Event& event) = 0;
  /// Whether it needs the fetch events of the policy layers (every layer's but the backend's): a run
  /// whose sinks only count reads and backend requests (MetricsCollector) skips emitting them, two
  /// events per request.
  virtual bool wants_layer_fetches() const { return true; }
};

/// Discards everything.
class NullEventSink final : public EventSink {
 public:
  void OnEvent(const Event&) override {}
  bool wants_layer_fetches() const override { return false; }
};

/// The layer that issues backend requests (ConcurrentFetcher); its fetch_* events are the GETs.
inline constexpr const char* kBackendLayer = "concurrent";

}  // namespace pflab
