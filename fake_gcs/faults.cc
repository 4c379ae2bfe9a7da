#include "fake_gcs/faults.h"

#include <algorithm>
#include <sstream>

namespace pflab::fake_gcs {

using nlohmann::json;

json RetryTests::Test::Resource(const std::string& id) const {
  json instructions = json::object();
  bool completed = true;
  for (const auto& [method, queue] : queues) {
    json list = json::array();
    for (const auto& f : queue) list.push_back(f.instruction);
    instructions[method] = list;
    if (!queue.empty()) completed = false;
  }
  return {{"id", id}, {"instructions", instructions}, {"completed", completed}, {"transport", transport}};
}

Result<json> RetryTests::Create(const json& request) {
  if (!request.is_object() || !request.contains("instructions") || !request["instructions"].is_object()) {
    return InvalidArgument("the request needs an \"instructions\" object: {\"instructions\": {METHOD: [...]}}");
  }
  Test test;
  test.transport = request.value("transport", std::string("HTTP"));
  if (test.transport != "HTTP" && test.transport != "GRPC") {
    return InvalidArgument("transport must be HTTP or GRPC, not " + test.transport);
  }
  for (const auto& [method, list] : request["instructions"].items()) {
    const auto& known = KnownMethods();
    if (std::find(known.begin(), known.end(), method) == known.end()) {
      return InvalidArgument("unknown method '" + method + "' in instructions");
    }
    if (!list.is_array()) return InvalidArgument("instructions for " + method + " must be a list");
    auto& queue = test.queues[method];
    for (const auto& item : list) {
      if (!item.is_string()) return InvalidArgument("instructions for " + method + " must be strings");
      auto fault = ParseInstruction(item.get<std::string>());
      if (!fault) return fault.error();
      queue.push_back(std::move(*fault));
    }
  }
  std::lock_guard lock(mutex_);
  std::ostringstream id;
  id << std::hex << 0x5eedf00d00000000ull + next_id_++;
  auto resource = test.Resource(id.str());
  tests_[id.str()] = std::move(test);
  return resource;
}

Result<json> RetryTests::Get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = tests_.find(id);
  if (it == tests_.end()) return NotFound("retry test " + id + " not found");
  return it->second.Resource(id);
}

Status RetryTests::Delete(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (!tests_.erase(id)) return NotFound("retry test " + id + " not found");
  return OkStatus();
}

json RetryTests::List() const {
  std::lock_guard lock(mutex_);
  json all = json::array();
  for (const auto& [id, test] : tests_) all.push_back(test.Resource(id));
  return {{"retry_test", all}};
}

Result<std::optional<Fault>> RetryTests::Take(const std::string& id, const std::string& method,
                                              std::optional<std::uint64_t> body_size, bool final_upload_answer) {
  std::lock_guard lock(mutex_);
  auto it = tests_.find(id);
  if (it == tests_.end()) return InvalidArgument("x-retry-test-id " + id + " names no retry test");
  auto q = it->second.queues.find(method);
  if (q == it->second.queues.end() || q->second.empty()) return std::optional<Fault>();
  if (!FaultFires(q->second.front(), method, body_size, final_upload_answer)) return std::optional<Fault>();
  Fault fault = std::move(q->second.front());
  q->second.pop_front();
  return std::optional<Fault>(std::move(fault));
}

}  // namespace pflab::fake_gcs
