#include "replay/live.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>

#include "engine/units.h"

namespace pflab::replay {

Status CheckConnectionCount(std::uint64_t connections, bool in_process_server) {
  if (connections == 0) return InvalidArgument("connections: must be at least 1");
  if (connections > kMaxConnections) {
    return InvalidArgument("connections: " + std::to_string(connections) + " is above the limit of " +
                           std::to_string(kMaxConnections) + " (each connection is a worker thread)");
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return OkStatus();
  const std::uint64_t needed = connections * (in_process_server ? 2 : 1) + kSpareDescriptors;
  if (needed <= limit.rlim_cur) return OkStatus();
  return InvalidArgument("connections: " + std::to_string(connections) + " need about " + std::to_string(needed) +
                         " open files (a socket per connection" +
                         (in_process_server ? std::string(", and the in-process fake server's end of each") : "") +
                         ", plus " + std::to_string(kSpareDescriptors) +
                         " to spare), above this process's open-file limit of " + std::to_string(limit.rlim_cur) +
                         " (RLIMIT_NOFILE; raise it with `ulimit -n`)");
}

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

std::uint64_t MaxLiveReadBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::uint64_t{1} << 30;  // unknown: 1 GiB
  return static_cast<std::uint64_t>(pages) / 4 * static_cast<std::uint64_t>(page);
}

Result<RunResult> RunLive(const SimulationConfig& config, const LiveOptions& live) {
  const std::uint64_t max_read = MaxLiveReadBytes();
  for (std::size_t i = 0; i < config.trace->records.size(); ++i) {
    const auto& r = config.trace->records[i];
    if (r.length > max_read) {
      return InvalidArgument("trace " + config.trace->name + ": read " + std::to_string(i + 1) + " of " +
                             std::to_string(r.length) + " bytes is larger than " + FormatSize(max_read) +
                             ", a quarter of this machine's memory: a real-time run holds each read's bytes in "
                             "memory (the simulator does not; use --transport sim)");
    }
  }
  const auto wall_start = std::chrono::steady_clock::now();
  // Declared first so it is destroyed last: completions still queued on the scheduler hold chunks.
  MemoryAccount account;
  AsioScheduler scheduler;
  HttpTransport http(&scheduler, live.endpoint, live.http);
  MappedTransport transport(http, live.objects);
  auto result = Replay(config, scheduler, transport, account, [&] {
    if (live.run_limit > 0) {
      scheduler.RunFor(live.run_limit);
    } else {
      scheduler.Run();
    }
  });
  if (!result) return result;
  result->metrics.cost_usd = config.profile.CostUsd(http.requests(), http.bytes_received());
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace pflab::replay
