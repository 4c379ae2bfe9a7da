// Test fixture for one layer built from a spec through the registry (so also plugin and py: layers),
// over a LoggingSource in virtual time.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "policies/registry.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"

namespace pflab::testing {

/// The layer `spec` (one layer, no fetcher) over a LoggingSource answering each request `delay` later.
struct LayerRig {
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  LoggingSource lower;
  std::unique_ptr<Source> layer;
  std::optional<Result<Slices>> got;

  LayerRig(const std::string& spec, std::uint64_t size, Nanos delay = 0, EventSink* sink = nullptr)
      : lower(&scheduler, size, delay, &account) {
    auto parsed = policies::ParseStackSpec(spec);
    REQUIRE(parsed.ok());
    REQUIRE(parsed->layers.size() == 1);
    auto entry = policies::ResolvePolicy(parsed->layers[0].name);
    INFO(spec << ": " << (entry.ok() ? "" : entry.error().message));
    REQUIRE(entry.ok());
    auto options = (*entry)->Parse(parsed->layers[0].params);
    INFO((options.ok() ? "" : options.error().message));
    REQUIRE(options.ok());
    policies::StackEnv env;
    env.ctx = LayerContext{&scheduler, sink ? sink : &events, 0};
    env.object = ObjectRef{"pflab", "object", 1, size};
    env.account = &account;
    env.seed = 1;
    layer = (*entry)->build(env, &lower, *options);
  }

  /// A read, then everything it started until the scheduler is idle.
  Result<Slices> Read(std::uint64_t begin, std::uint64_t end) {
    got.reset();
    layer->Read({begin, end}, [this](Result<Slices>&& r) { got = std::move(r); });
    scheduler.Run();
    REQUIRE(got.has_value());
    return std::move(*got);
  }
};

}  // namespace pflab::testing
