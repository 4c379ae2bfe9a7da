// The fault vocabulary of the storage-testbench, shared by the fake GCS server (fake_gcs/), which
// applies a fault to its HTTP response, and the FaultInjectingTransport decorator
// (engine/fault_injecting_transport.h), which applies it to the bytes any Transport delivers.
//
// Instructions (testbench semantics, shared/research/fake_gcs.md section 2.3):
//   return-X                        HTTP X with a JSON error, before anything else
//   return-reset-connection         TCP RST before any response byte
//   return-broken-stream            close after 4 body bytes (full Content-Length promised)
//   return-broken-stream-after-YK   close after Y KiB of body (objects.get only)
//   stall-for-Ts-after-YK           pause T seconds once after Y KiB of body
//   return-X-after-YK               uploads (storage.objects.insert): a single-request upload of at least
//                                   Y KiB gets X and stores nothing; a resumable upload's chunk reaching
//                                   byte Y*1024 of the object persists the bytes before it, then gets X
//   return-broken-stream-final-chunk-after-YB  the answer to a resumable upload's last chunk (the object
//                                   is stored) is cut after Y bytes of its JSON body
//   redirect-*, return-X-if-dp-enforced, return-unreachable-buckets-*: gRPC or buckets.list only;
//                                   accepted as the testbench does, never fire over HTTP
// plus our extension (its name matches no testbench pattern):
//   corrupt-byte                    flip one byte of the body (the middle one), so checksums can be tested
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/result.h"
#include "engine/scheduler.h"

namespace pflab {

/// What to do to one response.
struct Fault {
  enum class Kind {
    kReturnStatus,     // answer `status` with a JSON error
    kResetConnection,  // RST, no response
    kBrokenStream,     // close after `after_bytes` of body
    kStall,            // sleep `stall` once after `after_bytes` of body
    kCorruptByte,      // flip one body byte
    kInert,            // valid instruction that never fires over HTTP
  };
  Kind kind = Kind::kReturnStatus;
  int status = 503;
  std::uint64_t after_bytes = 0;
  Nanos stall = 0;
  bool uploads_only = false;  // return-X-after-YK
  bool final_chunk = false;   // return-broken-stream-final-chunk-after-YB
  std::string instruction;    // as written
};

/// Parses one instruction; InvalidArgument names it when it matches no known pattern.
Result<Fault> ParseInstruction(const std::string& instruction);

/// The methods the fake server routes requests to, named as in the testbench.
const std::vector<std::string>& KnownMethods();

/// Whether `fault` applies to a response of `method` whose body is `body_size` bytes (nullopt: the
/// body is not known yet, i.e. before the request is handled, when only immediate faults apply). For
/// uploads, `body_size` is the request's: its size, or for a resumable upload's chunk the object offset
/// it reaches. `final_upload_answer`: the stage where the answer to a resumable upload's last chunk is
/// known (`body_size` is that answer's size), where only final-chunk faults apply.
bool FaultFires(const Fault& fault, const std::string& method, std::optional<std::uint64_t> body_size,
                bool final_upload_answer = false);

/// Seeded per-request fault probabilities, read from a JSON file:
///   {"seed": 7, "faults": [{"instruction": "return-503", "probability": 0.01,
///                           "methods": ["storage.objects.get"]}, ...]}
/// `methods` is optional (default: every method). For each request, faults are tried in order and the
/// first whose draw hits and which applies is used. Thread-safe.
class FaultProfile {
 public:
  static Result<FaultProfile> Parse(const nlohmann::json& json, const std::string& where);
  static Result<FaultProfile> Load(const std::string& path);

  /// Draws the fault for one request, at the stage given by `body_size` (see FaultFires).
  std::optional<Fault> Draw(const std::string& method, std::optional<std::uint64_t> body_size,
                            bool final_upload_answer = false);

  FaultProfile(const FaultProfile& other);
  FaultProfile& operator=(const FaultProfile&) = delete;
  FaultProfile() = default;

 private:
  struct Entry {
    Fault fault;
    double probability = 0;
    std::vector<std::string> methods;
  };
  std::vector<Entry> entries_;
  std::uint64_t seed_ = 1;
  std::mutex mutex_;
  std::mt19937_64 rng_;
};

}  // namespace pflab
