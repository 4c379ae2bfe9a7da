// The storage retry conformance scenarios that apply to reads (tests/faults/retry_conformance.json says
// where they come from), each run through our reader against the fake GCS server's Retry Test API, in
// three shapes: a whole-object read, a ranged read, and a stream. Each must end as the scenario says:
// success with every byte right after exactly the expected requests, or a failure naming the status
// after exactly the expected requests. Either way every instruction must have fired.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/concurrent_fetcher.h"
#include "engine/synthetic_content.h"
#include "fake_gcs/server.h"
#include "net/http_transport.h"

namespace pflab {
namespace {

using nlohmann::json;
constexpr std::uint64_t kObjectSize = (1 << 20) + 7;  // more than 256 KiB, for broken-stream-after-256K

struct Scenario {
  std::string name;
  std::vector<std::string> instructions;
  bool success = true;
  std::uint32_t attempts = 0;
  int http_status = 0;
};

std::vector<Scenario> LoadScenarios() {
  std::ifstream in(std::string(PFLAB_SOURCE_DIR) + "/tests/faults/retry_conformance.json");
  REQUIRE(in.good());
  const json doc = json::parse(in);
  std::vector<Scenario> out;
  for (const auto& s : doc.at("scenarios")) {
    Scenario scenario;
    scenario.name = "id " + std::to_string(s.at("id").get<int>()) + ": " + s.at("name").get<std::string>();
    scenario.instructions = s.at("instructions").get<std::vector<std::string>>();
    scenario.success = s.at("expect") == "success";
    scenario.attempts = s.at("attempts");
    scenario.http_status = s.value("http_status", 0);
    out.push_back(std::move(scenario));
  }
  return out;
}

// Counts backend requests and keeps the last failure's status, as the fetcher reports them.
struct Requests final : EventSink {
  std::uint32_t started = 0;
  std::uint32_t failed = 0;
  void OnEvent(const Event& e) override {
    if (e.type == EventType::kFetchStart) ++started;
    if (e.type == EventType::kFetchFail) ++failed;
  }
};

enum class Shape { kWhole, kRange, kStream };

const char* ShapeName(Shape shape) {
  switch (shape) {
    case Shape::kWhole: return "whole object";
    case Shape::kRange: return "ranged read";
    case Shape::kStream: return "stream";
  }
  return "?";
}

struct Outcome {
  // First, so it is destroyed last: the result's chunks report to it when they go.
  std::unique_ptr<MemoryAccount> account = std::make_unique<MemoryAccount>();
  std::optional<Result<Slices>> result;
  std::uint32_t requests = 0;
  json retry_test;
};

Outcome Run(fake_gcs::FakeGcsServer& server, const Scenario& scenario, Shape shape, ByteRange range) {
  httplib::Client admin("127.0.0.1", server.port());
  auto created =
      admin.Post("/retry_test", json{{"instructions", {{"storage.objects.get", scenario.instructions}}}}.dump(),
                 "application/json");
  REQUIRE(created);
  REQUIRE(created->status == 200);
  const std::string id = json::parse(created->body).at("id");

  AsioScheduler scheduler;
  HttpTransportOptions http;
  http.connections = 2;
  http.extra_headers = {{"x-retry-test-id", id}};
  HttpTransport transport(&scheduler, *HttpEndpoint::Parse(server.endpoint()), http);
  Requests events;
  Outcome out;
  MemoryAccount& account = *out.account;
  ConcurrentFetcherOptions options;
  options.parts = 1;
  options.initial_backoff = 5 * kMillisecond;
  {
    ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport, ObjectRef{"bkt", "obj", 1, kObjectSize},
                              options, &account);
    if (shape == Shape::kStream) {
      // Pulled in 64 KiB pieces into one buffer, as gcsfuse's reader consumes a stream.
      const StreamId stream = fetcher.OpenStream(range);
      auto whole = Chunk::Make(range.size(), true, &account);
      std::uint64_t at = 0;
      std::function<void()> pull = [&] {
        fetcher.ReadStream(stream, 64 << 10, [&](Result<Slices>&& r) {
          if (!r.ok()) {
            out.result = std::move(r);
            return;
          }
          for (const Slice& s : *r) {
            std::memcpy(whole->mutable_data() + at, s.data(), s.length);
            at += s.length;
          }
          if (at == range.size()) {
            whole->AddFilled(at);
            Slices slices;
            slices.push_back(Slice{whole, 0, at});
            out.result = std::move(slices);
            return;
          }
          pull();
        });
      };
      pull();
      scheduler.RunFor(30 * kSecond);
      fetcher.CloseStream(stream);
      scheduler.RunFor(kSecond);
    } else {
      fetcher.Read(range, [&](Result<Slices>&& r) { out.result = std::move(r); });
      scheduler.RunFor(30 * kSecond);
    }
  }
  out.requests = events.started;
  out.retry_test = json::parse(admin.Get("/retry_test/" + id)->body);
  return out;
}

TEST_CASE("retry conformance: the read scenarios of googleapis/conformance-tests, through fetches and streams",
          "[faults][conformance]") {
  fake_gcs::FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("bkt", "obj", kObjectSize).ok());
  REQUIRE(server.Start().ok());
  const std::vector<Scenario> scenarios = LoadScenarios();
  REQUIRE(scenarios.size() == 9);
  const std::uint64_t seed = ObjectSeed("bkt", "obj", 1);
  for (const Scenario& scenario : scenarios) {
    for (const Shape shape : {Shape::kWhole, Shape::kRange, Shape::kStream}) {
      const ByteRange range = shape == Shape::kRange ? ByteRange{1000, 1000 + 600 * 1024} : ByteRange{0, kObjectSize};
      INFO(scenario.name << ", " << ShapeName(shape));
      const Outcome out = Run(server, scenario, shape, range);
      REQUIRE(out.result.has_value());
      CHECK(out.retry_test.at("completed") == true);  // every instruction fired
      CHECK(out.requests == scenario.attempts);
      if (scenario.success) {
        REQUIRE(out.result->ok());
        REQUIRE(TotalLength(**out.result) == range.size());
        std::uint64_t offset = range.begin;
        for (const Slice& s : **out.result) {
          for (std::uint64_t i = 0; i < s.length; ++i, ++offset) {
            if (s.data()[i] != SyntheticByte(seed, offset)) FAIL("byte " << offset << " differs");
          }
        }
      } else {
        REQUIRE_FALSE(out.result->ok());
        const Error& error = out.result->error();
        INFO(error.message);
        CHECK_FALSE(error.retryable);
        CHECK(error.http_status == scenario.http_status);
        CHECK(error.attempts == scenario.attempts);
        CHECK(error.message.find("HTTP " + std::to_string(scenario.http_status)) != std::string::npos);
      }
    }
  }
}

}  // namespace
}  // namespace pflab
