// Fault injection for the fake GCS server.
//
// Two sources of faults, both yielding a Fault for one request:
// - RetryTests: the storage-testbench Retry Test API (`POST /retry_test` etc.), so the cross-language
//   retry conformance cases (googleapis/conformance-tests retry_tests.json) can drive our server the
//   way they drive the testbench. Per test id, one FIFO queue of instructions per method; a request
//   carrying `x-retry-test-id` consults its method's queue, and an instruction is dequeued only when
//   it actually fires (a broken-stream-after-1M on a 1 KiB body does not fire and stays queued).
// - FaultProfile: seeded per-request probabilities of the same instructions, for soak runs.
//
// The instructions, their parsing and the seeded FaultProfile are engine/faults.h, shared with the
// FaultInjectingTransport decorator.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/faults.h"

namespace pflab::fake_gcs {

using ::pflab::Fault;
using ::pflab::FaultFires;
using ::pflab::FaultProfile;
using ::pflab::KnownMethods;
using ::pflab::ParseInstruction;

/// The Retry Test API's state. Thread-safe.
class RetryTests {
 public:
  /// POST /retry_test: validates and stores; returns the resource, or an error for a 400.
  Result<nlohmann::json> Create(const nlohmann::json& request);
  Result<nlohmann::json> Get(const std::string& id) const;
  Status Delete(const std::string& id);
  nlohmann::json List() const;
  /// Dequeues and returns the head of test `id`'s queue for `method` if it fires for this request.
  /// An unknown id is an error (the testbench answers 404... we answer 400 naming the id).
  Result<std::optional<Fault>> Take(const std::string& id, const std::string& method,
                                    std::optional<std::uint64_t> body_size, bool final_upload_answer = false);

 private:
  struct Test {
    std::map<std::string, std::deque<Fault>> queues;
    std::string transport;
    nlohmann::json Resource(const std::string& id) const;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Test> tests_;
  std::uint64_t next_id_ = 1;
};

}  // namespace pflab::fake_gcs
