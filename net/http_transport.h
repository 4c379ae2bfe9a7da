// The Transport for real HTTP endpoints: live GCS, or the fake GCS server (fake_gcs/).
//
// Each fetch is one ranged GET of the JSON API media URL
// (`/storage/v1/b/BUCKET/o/OBJECT?alt=media`, `Range: bytes=a-b`), run on a pool of worker threads
// that each keep one persistent connection. A request goes to the worker that went idle last, so a run
// opens about as many connections as it has requests in flight at once (the simulator's model of
// connection setup relies on it), not one per worker. The body is written straight into the
// destination chunk as it arrives; there is no intermediate string per response. Completions are posted to the engine's
// AsioScheduler, so callbacks run on the engine thread like every other callback.
//
// Retries are not done here, not even a quiet resend on a kept-alive connection found dead: a failed
// fetch reports how many bytes arrived and whether the failure is retryable (408, 429, 5xx, connection
// reset, a body cut short, a refused response), and the ConcurrentFetcher above retries with backoff,
// resumes from the last byte received and counts every retry. That keeps one retry implementation for
// the simulator and for real runs. (A pooled connection the server closed while idle is noticed before
// a request goes out and replaced; nothing is sent twice.)
//
// No byte of a response is taken before its head says it is what was asked for: a 206 must carry the
// requested range in Content-Range (and the object's size as the total, when given) and a matching
// Content-Length; a 200 (a server ignoring Range) must carry a Content-Length equal to the object's
// size; x-goog-generation must be the pinned generation. A response that fails any of these is
// refused whole (kDataLoss, retryable, no bytes received), so an error page served as 200 is never
// object data. The transport pins each object's generation to the first one it sees (later requests
// ask for that generation), so an overwrite during a read is refused, never a mix of two versions'
// bytes; it checks a whole-object read against the CRC32C in x-goog-hash (ranged reads carry the whole
// object's hash, which a part cannot be checked against, as in google-cloud-cpp), failing a mismatch
// as retryable with no bytes kept; and it turns HTTP errors into messages naming the object and range,
// with the status in Error::http_status.
//
// A stream is the same GET outside the pool's connections (gcsfuse's Go HTTP client has no per-host
// connection limit, and a handle's stream stays open while its reader thinks, so pooled streams could
// starve every other request), run as gcsfuse runs its requests: on a thread of a stream pool that
// grows to the most streams open at once and is reused after (Go starts a goroutine, not an OS thread,
// per request; a new thread per stream cost its clone and, on a loaded host, a new thread's wait for a
// core), and on a connection taken from the streams' idle connections, or a new one when none is idle.
// A stream whose body was read to its end leaves its connection idle for the next stream (Go's
// transport returns a connection whose body reached EOF to its idle pool); one closed before its end
// drops its connection, as Go's HTTP client does with an unread body, so the next stream connects
// anew. The body is read off the connection only as pulls ask for it, so between pulls the socket
// buffers fill and TCP stops the server (the receive window). Whole-object streams are not checked
// against x-goog-hash (their bytes were handed out before the last one arrived).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/asio_scheduler.h"
#include "engine/result.h"
#include "engine/transport.h"

namespace pflab {
class Credentials;
}

namespace pflab {

/// Where the HTTP transport sends requests, parsed from a URL such as `http://127.0.0.1:4443`.
struct HttpEndpoint {
  std::string scheme = "https";  // http or https
  std::string host = "storage.googleapis.com";
  int port = 443;

  std::string Url() const;
  /// Parses `http[s]://host[:port]` or a bare `host:port` (taken as http, as the GCS emulator variable
  /// is used by the official clients).
  static Result<HttpEndpoint> Parse(const std::string& url);
  /// $STORAGE_EMULATOR_HOST when set (as the official clients honour it), else live GCS.
  static Result<HttpEndpoint> FromEnvironment();
};

/// Options of HttpTransport.
struct HttpTransportOptions {
  std::uint32_t connections = 16;  // worker threads, one persistent connection each (streams have their own)
  /// Stream threads started with the transport, so that up to this many streams opened at once find
  /// one waiting (as a Go client starts a goroutine, not an OS thread); more streams at once add threads.
  std::uint32_t stream_threads = 16;
  Nanos connect_timeout = 10 * kSecond;
  Nanos read_timeout = 30 * kSecond;  // no byte for this long fails the fetch (retryable)
  /// Where the Authorization header comes from; null: none is sent. A 401 makes a fetch retryable
  /// when the credentials can fetch another token (Credentials::Rejected), so one refresh is tried.
  std::shared_ptr<Credentials> credentials;
  std::string ca_file;  // for https: PEM certificates to trust instead of the system's
  /// Sent with every request, e.g. {"x-retry-test-id", ID} to drive the fake server's retry tests.
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

/// Percent-encodes an object name for a URL path segment (everything but unreserved characters).
std::string EncodeObjectName(const std::string& name);

/// A Transport over HTTP(S) with worker threads; Fetch/Cancel are called on the scheduler's thread.
class HttpTransport final : public Transport {
 public:
  HttpTransport(AsioScheduler* scheduler, HttpEndpoint endpoint, HttpTransportOptions options = {});
  /// Stops the workers; fetches still queued or running complete with kCancelled first.
  ~HttpTransport() override;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override;
  void Cancel(FetchId id) override;
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override;
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override;
  void CloseStream(StreamId id, StreamClosedCallback closed) override;
  bool wants_payload() const override { return true; }

  /// GET requests sent, retries by the layer above included.
  std::uint64_t requests() const { return requests_.load(); }
  /// Body bytes received into chunks.
  std::uint64_t bytes_received() const { return bytes_received_.load(); }
  /// Connections opened by the pooled workers: one per worker's first request, and one per request
  /// that finds its worker's kept-alive connection closed.
  std::uint64_t connections() const { return connections_.load(); }
  /// Connections made for streams (a stream that finds an idle one reuses it instead).
  std::uint64_t stream_connections() const { return stream_connections_.load(); }
  /// Threads started for streams, those started with the transport included.
  std::uint64_t stream_threads() const { return stream_threads_started_.load(); }

 private:
  struct Job;
  struct Worker;
  std::unique_ptr<Worker> MakeWorker() const;
  void WorkerLoop(Worker* worker);
  void StreamLoop();  // a stream thread: runs opened streams, one at a time, each on a connection
  static bool Reusable(const Worker& connection);
  FetchOutcome Execute(Worker* worker, Job& job);
  void Complete(std::shared_ptr<Job> job, FetchOutcome outcome);
  std::shared_ptr<Job> Enqueue(const ObjectRef& object, ByteRange range);
  // Streams: the worker hands body bytes to the pulls, waiting for one when none is waiting.
  bool Feed(Job& job, const char* data, std::size_t length);
  void EndStream(const std::shared_ptr<Job>& job, FetchOutcome outcome);  // worker side, with mutex_ held
  void PostPullDone(Job& job, FetchOutcome outcome);                      // with mutex_ held
  void PostClosed(const std::shared_ptr<Job>& job);                       // with mutex_ held
  std::string ObjectKey(const ObjectRef& object) const;

  AsioScheduler* scheduler_;
  HttpEndpoint endpoint_;
  HttpTransportOptions options_;

  std::mutex mutex_;                        // guards everything below up to the workers, and each worker's `next`
  std::deque<std::shared_ptr<Job>> queue_;  // fetches waiting for a worker (none is idle)
  std::vector<Worker*> idle_workers_;       // the one that went idle last at the back
  std::unordered_map<FetchId, std::shared_ptr<Job>> jobs_;  // queued or running
  std::map<std::string, std::int64_t> generations_;         // pinned per object
  bool stopping_ = false;
  FetchId next_id_ = 1;

  // Streams: opened ones wait here for a stream thread; connections wait here for a stream.
  std::condition_variable stream_wake_;
  std::deque<std::shared_ptr<Job>> stream_queue_;
  std::size_t idle_stream_threads_ = 0;
  std::vector<std::unique_ptr<Worker>> idle_connections_;  // kept alive after a stream read to its end
  std::unordered_set<Worker*> busy_connections_;           // in use by a stream (the destructor stops them)

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> stream_connections_{0};
  std::atomic<std::uint64_t> stream_threads_started_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> stream_threads_;  // touched on the engine thread
};

}  // namespace pflab
