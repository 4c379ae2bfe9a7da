#include "replay/transport_stack.h"

#include <map>
#include <stdexcept>
#include <utility>

#include "engine/asio_scheduler.h"
#include "net/http_transport.h"

namespace pflab::replay {
namespace {

// Sends each request for a trace object to the live object it is mapped onto; the rest unchanged.
class MappedTransport final : public Transport {
 public:
  MappedTransport(Transport& inner, const std::map<std::string, ObjectRef>& objects)
      : inner_(inner), objects_(objects) {}
  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override {
    return inner_.Fetch(Map(object), range, std::move(target), std::move(done));
  }
  void Cancel(FetchId id) override { inner_.Cancel(id); }
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override {
    return inner_.OpenStream(Map(object), range);
  }
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override {
    inner_.ReadStream(id, length, std::move(target), std::move(done));
  }
  void CloseStream(StreamId id, StreamClosedCallback closed) override { inner_.CloseStream(id, std::move(closed)); }
  bool wants_payload() const override { return inner_.wants_payload(); }

 private:
  const ObjectRef& Map(const ObjectRef& object) const {
    auto it = objects_.find(object.bucket + "/" + object.name);
    return it == objects_.end() ? object : it->second;
  }

  Transport& inner_;
  const std::map<std::string, ObjectRef>& objects_;
};

}  // namespace

Result<std::optional<FaultProfile>> RunFaultProfile(const RunFaults& faults, double failure_probability,
                                                    std::uint64_t seed) {
  if (faults.profile.is_null() && failure_probability <= 0) return std::optional<FaultProfile>();
  nlohmann::json drawn =
      faults.profile.is_null() ? nlohmann::json{{"seed", seed}, {"faults", nlohmann::json::array()}} : faults.profile;
  if (failure_probability > 0 && drawn.is_object() && drawn.contains("faults") && drawn["faults"].is_array()) {
    drawn["faults"].push_back(
        {{"instruction", "return-503"}, {"probability", failure_probability}, {"methods", {"storage.objects.get"}}});
  }
  auto parsed = FaultProfile::Parse(drawn, faults.profile.is_null() ? "profile failure_probability" : "faults");
  if (!parsed) return parsed.error();
  return std::optional<FaultProfile>(std::move(*parsed));
}

Result<FaultInjection> RunFaultInjection(const RunFaults& faults, double failure_probability, std::uint64_t seed,
                                         Nanos read_timeout) {
  FaultInjection injection;
  auto drawn = RunFaultProfile(faults, failure_probability, seed);
  if (!drawn) return drawn.error();
  if (*drawn) injection.profile.emplace(**drawn);
  for (std::size_t i = 0; i < faults.script.size(); ++i) {
    auto fault = ParseInstruction(faults.script[i]);
    if (!fault) return InvalidArgument("fault script[" + std::to_string(i) + "]: " + fault.error().message);
    injection.script.push_back(std::move(*fault));
  }
  injection.read_timeout = read_timeout;
  return injection;
}

TransportStack::~TransportStack() {
  // Top first: each layer cancels what it still has below while the layer below is alive.
  accounting_.reset();
  faults_.reset();
  mapped_.reset();
  backend_.reset();
}

double TransportStack::CostUsd() const {
  return prices_.CostUsd(accounting_->billed_requests(), accounting_->bytes_received());
}

Result<std::unique_ptr<TransportStack>> MakeTransportStack(Scheduler* scheduler, const TransportStackOptions& options) {
  std::unique_ptr<TransportStack> stack(new TransportStack());
  stack->prices_ = options.profile;
  Nanos read_timeout = options.read_timeout;
  if (options.backend == TransportStackOptions::Backend::kSim) {
    stack->backend_ = std::make_unique<sim::SimTransport>(scheduler, options.profile, options.seed, options.sim);
  } else {
    auto* asio = dynamic_cast<AsioScheduler*>(scheduler);
    if (!asio || !options.live)
      throw std::logic_error("MakeTransportStack: HTTP needs an AsioScheduler and LiveOptions");
    stack->backend_ = std::make_unique<HttpTransport>(asio, options.live->endpoint, options.live->http);
    read_timeout = options.live->http.read_timeout;
  }
  Transport* below = stack->backend_.get();
  if (options.live && !options.live->objects.empty()) {
    stack->mapped_ = std::make_unique<MappedTransport>(*below, options.live->objects);
    below = stack->mapped_.get();
  }
  const bool simulated = options.backend == TransportStackOptions::Backend::kSim;
  auto injection = RunFaultInjection(options.faults, simulated ? options.profile.failure_probability : 0, options.seed,
                                     read_timeout);
  if (!injection) return injection.error();
  if (!injection->empty()) {  // no layer at all for runs without faults: nothing changes for them
    stack->faults_ = std::make_unique<FaultInjectingTransport>(scheduler, below, std::move(*injection));
    below = stack->faults_.get();
  }
  stack->accounting_ = std::make_unique<AccountingTransport>(below);
  return stack;
}

}  // namespace pflab::replay
