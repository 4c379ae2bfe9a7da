#include "engine/faults.h"

#include <algorithm>
#include <fstream>
#include <regex>

namespace pflab {
namespace {

using nlohmann::json;

constexpr const char* kInsert = "storage.objects.insert";
constexpr const char* kGet = "storage.objects.get";

// A count from an instruction, at most `max` (std::out_of_range beyond, as std::stoull throws it), so
// "KiB * 1024" and "seconds * 1e9" cannot overflow.
std::uint64_t ToU64(const std::string& s, std::uint64_t max) {
  const std::uint64_t v = std::stoull(s);
  if (v > max) throw std::out_of_range("instruction number above its limit");
  return v;
}
constexpr std::uint64_t kMaxKiB = std::uint64_t{1} << 40;  // 2^50 bytes, the largest object
constexpr std::uint64_t kMaxStallSeconds = 86400;          // a day

}  // namespace

const std::vector<std::string>& KnownMethods() {
  static const std::vector<std::string> kMethods = {
      "storage.objects.get",   "storage.objects.list",    "storage.objects.insert", "storage.objects.delete",
      "storage.objects.patch", "storage.objects.rewrite", "storage.objects.copy",   "storage.buckets.get",
      "storage.buckets.list",  "storage.buckets.insert",
  };
  return kMethods;
}

Result<Fault> ParseInstruction(const std::string& instruction) {
  static const std::regex kReturn(R"(return-([0-9]+))");
  static const std::regex kReturnAfter(R"(return-([0-9]+)-after-([0-9]+)K)");
  static const std::regex kBrokenAfter(R"(return-broken-stream-after-([0-9]+)K)");
  static const std::regex kStall(R"(stall-for-([0-9]+)s-after-([0-9]+)K)");
  static const std::regex kFinalChunk(R"(return-broken-stream-final-chunk-after-([0-9]+)B)");
  static const std::regex kInert(
      R"(redirect-send-token-.+|redirect-send-handle-and-token-.+|)"
      R"(redirect-expect-token-.+|return-[0-9]+-if-dp-enforced|return-unreachable-buckets-.+)");
  Fault fault;
  fault.instruction = instruction;
  std::smatch m;
  try {
    if (std::regex_match(instruction, m, kReturn)) {
      fault.kind = Fault::Kind::kReturnStatus;
      fault.status = std::stoi(m[1]);
      if (fault.status < 100 || fault.status > 599) return InvalidArgument("bad status in '" + instruction + "'");
      return fault;
    }
    if (instruction == "return-reset-connection") {
      fault.kind = Fault::Kind::kResetConnection;
      return fault;
    }
    if (instruction == "return-broken-stream") {
      fault.kind = Fault::Kind::kBrokenStream;
      fault.after_bytes = 4;  // the testbench's "a few bytes" is exactly 4
      return fault;
    }
    if (std::regex_match(instruction, m, kBrokenAfter)) {
      fault.kind = Fault::Kind::kBrokenStream;
      fault.after_bytes = ToU64(m[1], kMaxKiB) * 1024;
      return fault;
    }
    if (std::regex_match(instruction, m, kStall)) {
      fault.kind = Fault::Kind::kStall;
      fault.stall = static_cast<Nanos>(ToU64(m[1], kMaxStallSeconds)) * kSecond;
      fault.after_bytes = ToU64(m[2], kMaxKiB) * 1024;
      return fault;
    }
    if (std::regex_match(instruction, m, kReturnAfter)) {
      fault.kind = Fault::Kind::kReturnStatus;
      fault.status = std::stoi(m[1]);
      if (fault.status < 100 || fault.status > 599) return InvalidArgument("bad status in '" + instruction + "'");
      fault.after_bytes = ToU64(m[2], kMaxKiB) * 1024;
      fault.uploads_only = true;
      return fault;
    }
    if (std::regex_match(instruction, m, kFinalChunk)) {
      fault.kind = Fault::Kind::kBrokenStream;
      fault.after_bytes = ToU64(m[1], kMaxKiB * 1024);  // bytes here, not KiB
      fault.final_chunk = true;
      return fault;
    }
    if (instruction == "corrupt-byte") {
      fault.kind = Fault::Kind::kCorruptByte;
      return fault;
    }
    if (std::regex_match(instruction, kInert)) {
      fault.kind = Fault::Kind::kInert;
      return fault;
    }
  } catch (const std::out_of_range&) {
    return InvalidArgument("number out of range in instruction '" + instruction +
                           "' (sizes up to 2^40 K, stalls up to 86400 s, statuses 100 to 599)");
  }
  return InvalidArgument("unknown instruction '" + instruction +
                         "' (known: return-X, return-reset-connection, return-broken-stream, "
                         "return-broken-stream-after-YK, stall-for-Ts-after-YK, return-X-after-YK, "
                         "return-broken-stream-final-chunk-after-YB, corrupt-byte)");
}

bool FaultFires(const Fault& fault, const std::string& method, std::optional<std::uint64_t> body_size,
                bool final_upload_answer) {
  const bool upload = method == kInsert;
  if (fault.final_chunk || final_upload_answer) {
    return fault.final_chunk && final_upload_answer && upload && body_size && *body_size > fault.after_bytes;
  }
  switch (fault.kind) {
    case Fault::Kind::kInert: return false;
    case Fault::Kind::kReturnStatus:
      if (fault.uploads_only) return upload && body_size && *body_size >= fault.after_bytes;
      return upload || !body_size;
    case Fault::Kind::kResetConnection: return upload || !body_size;
    case Fault::Kind::kBrokenStream:
      if (upload || !body_size) return false;
      if (fault.after_bytes != 4 && method != kGet) return false;  // -after-YK is objects.get only
      return *body_size > fault.after_bytes;
    case Fault::Kind::kStall: return !upload && body_size && *body_size >= fault.after_bytes;
    case Fault::Kind::kCorruptByte: return !upload && body_size && *body_size > 0;
  }
  return false;
}

FaultProfile::FaultProfile(const FaultProfile& other) : entries_(other.entries_), seed_(other.seed_), rng_(seed_) {}

Result<FaultProfile> FaultProfile::Parse(const json& j, const std::string& where) {
  FaultProfile profile;
  if (!j.is_object()) return InvalidArgument(where + ": a fault profile is a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "seed" && key != "faults" && key != "comment") {
      return InvalidArgument(where + ": unknown field '" + key + "' (known: seed, faults, comment)");
    }
  }
  if (j.contains("seed")) {
    if (!j["seed"].is_number_integer() || j["seed"].get<std::int64_t>() < 0) {
      return InvalidArgument(where + ": seed must be a non-negative integer");
    }
    profile.seed_ = j["seed"].get<std::uint64_t>();
  }
  if (!j.contains("faults") || !j["faults"].is_array()) return InvalidArgument(where + ": needs a \"faults\" list");
  std::size_t index = 0;
  for (const auto& item : j["faults"]) {
    const std::string at = where + ": faults[" + std::to_string(index++) + "]";
    if (!item.is_object() || !item.contains("instruction") || !item["instruction"].is_string()) {
      return InvalidArgument(at + ": needs \"instruction\" (a string)");
    }
    for (const auto& [key, value] : item.items()) {
      if (key != "instruction" && key != "probability" && key != "methods") {
        return InvalidArgument(at + ": unknown field '" + key + "' (known: instruction, probability, methods)");
      }
    }
    Entry entry;
    auto fault = ParseInstruction(item["instruction"].get<std::string>());
    if (!fault) return InvalidArgument(at + ": " + fault.error().message);
    entry.fault = std::move(*fault);
    if (!item.contains("probability") || !item["probability"].is_number()) {
      return InvalidArgument(at + ": needs \"probability\" (a number in [0, 1])");
    }
    entry.probability = item["probability"].get<double>();
    if (!(entry.probability >= 0 && entry.probability <= 1)) {
      return InvalidArgument(at + ": probability must be in [0, 1]");
    }
    if (item.contains("methods")) {
      if (!item["methods"].is_array()) return InvalidArgument(at + ": methods must be a list");
      for (const auto& m : item["methods"]) {
        const auto& known = KnownMethods();
        if (!m.is_string() || std::find(known.begin(), known.end(), m.get<std::string>()) == known.end()) {
          return InvalidArgument(at + ": unknown method " + m.dump());
        }
        entry.methods.push_back(m.get<std::string>());
      }
    }
    profile.entries_.push_back(std::move(entry));
  }
  profile.rng_.seed(profile.seed_);
  return profile;
}

Result<FaultProfile> FaultProfile::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument(path + ": cannot open the fault profile");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(path + ": not valid JSON");
  return Parse(j, path);
}

std::optional<Fault> FaultProfile::Draw(const std::string& method, std::optional<std::uint64_t> body_size,
                                        bool final_upload_answer) {
  std::lock_guard lock(mutex_);
  for (const auto& entry : entries_) {
    if (!entry.methods.empty() &&
        std::find(entry.methods.begin(), entry.methods.end(), method) == entry.methods.end()) {
      continue;
    }
    if (!FaultFires(entry.fault, method, body_size, final_upload_answer)) continue;
    // One draw per applicable entry and stage keeps the sequence a function of the seed and the
    // order of requests.
    if (std::uniform_real_distribution<double>(0, 1)(rng_) < entry.probability) return entry.fault;
  }
  return std::nullopt;
}

}  // namespace pflab
