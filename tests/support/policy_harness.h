// Test fixture for one policy layer over a LoggingSource in virtual time: starts reads and runs the
// scheduler until they complete, so hand-worked request sequences can be checked step by step.
#pragma once

#include <catch2/catch.hpp>
#include <optional>
#include <utility>

#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"

namespace pflab::testing {

/// `Policy` (constructed as Policy(LayerContext, Source*, args...)) over a LoggingSource that answers
/// each request `delay` after it is made. The policy is held in an optional so a test can destroy it
/// while requests are in flight.
template <typename Policy>
struct PolicyHarness {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  LoggingSource lower;
  std::optional<Policy> policy;
  std::optional<Result<Slices>> got;

  template <typename... Args>
  PolicyHarness(std::uint64_t size, Nanos delay, Args&&... args) : lower(&scheduler, size, delay, &account) {
    policy.emplace(LayerContext{&scheduler, &events, 0}, &lower, std::forward<Args>(args)...);
  }

  /// Starts a read and runs only what is due now (no virtual time passes).
  ReadId Start(std::uint64_t begin, std::uint64_t end) {
    got.reset();
    const ReadId id = policy->Read({begin, end}, [this](Result<Slices>&& r) { got = std::move(r); });
    scheduler.RunUntil(scheduler.Now());
    return id;
  }
  /// A read, then everything it started until the lower layer is idle.
  Result<Slices> Read(std::uint64_t begin, std::uint64_t end) {
    Start(begin, end);
    scheduler.Run();
    REQUIRE(got.has_value());
    return std::move(*got);
  }
  /// A read that must succeed with exactly the bytes asked for.
  void ReadOk(std::uint64_t begin, std::uint64_t end) {
    auto r = Read(begin, end);
    REQUIRE(r.ok());
    CHECK(TotalLength(*r) == end - begin);
  }
};

}  // namespace pflab::testing
