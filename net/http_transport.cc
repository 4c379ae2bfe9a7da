#include "net/http_transport.h"

#include <httplib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "engine/http_status.h"
#include "net/checksums.h"
#include "net/credentials.h"
#include "net/plain_http.h"

namespace pflab {
namespace {

constexpr std::size_t kMaxErrorBody = 4096;

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// The "message" of a GCS JSON error body, else the body's start.
std::string ErrorDetail(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("error") && json["error"].is_object() && json["error"].contains("message") &&
      json["error"]["message"].is_string()) {
    return json["error"]["message"].get<std::string>();
  }
  std::string text = body.substr(0, 200);
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

// A decimal number that is the whole of `text` (no sign, no spaces).
std::optional<std::uint64_t> ParseDecimal(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "bytes FIRST-LAST/TOTAL", TOTAL possibly "*" (unknown).
struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::optional<std::uint64_t> total;
};

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  if (value.substr(0, 6) != "bytes ") return std::nullopt;
  value.remove_prefix(6);
  const auto dash = value.find('-');
  const auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return std::nullopt;
  const auto first = ParseDecimal(value.substr(0, dash));
  const auto last = ParseDecimal(value.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) return std::nullopt;
  ContentRange out{*first, *last, std::nullopt};
  const std::string_view total = value.substr(slash + 1);
  if (total != "*") {
    out.total = ParseDecimal(total);
    if (!out.total) return std::nullopt;
  }
  return out;
}

std::int64_t SecondsPart(Nanos n) {
  return n / kSecond;
}
std::int64_t MicrosPart(Nanos n) {
  return (n % kSecond) / kMicrosecond;
}

}  // namespace

std::string HttpEndpoint::Url() const {
  const bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return scheme + "://" + host + (default_port ? "" : ":" + std::to_string(port));
}

Result<HttpEndpoint> HttpEndpoint::Parse(const std::string& url) {
  HttpEndpoint e;
  std::string rest = url;
  if (const auto p = rest.find("://"); p != std::string::npos) {
    e.scheme = rest.substr(0, p);
    rest = rest.substr(p + 3);
  } else {
    e.scheme = "http";
  }
  if (e.scheme != "http" && e.scheme != "https") {
    return InvalidArgument("endpoint " + url + ": the scheme must be http or https");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) {
    return InvalidArgument("endpoint " + url + ": expected scheme://host[:port] without a path");
  }
  e.port = e.scheme == "https" ? 443 : 80;
  if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    const long value = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value <= 0 || value > 65535) {
      return InvalidArgument("endpoint " + url + ": bad port '" + port + "'");
    }
    e.port = static_cast<int>(value);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return InvalidArgument("endpoint " + url + ": no host");
  for (unsigned char c : rest) {
    if (!std::isalnum(c) && c != '.' && c != '-' && c != '_' && c != '[' && c != ']' && c != ':') {
      return InvalidArgument("endpoint " + url + ": '" + rest + "' is not a host name or address");
    }
  }
  e.host = rest;
  return e;
}

Result<HttpEndpoint> HttpEndpoint::FromEnvironment() {
  if (const char* emulator = std::getenv("STORAGE_EMULATOR_HOST"); emulator && *emulator) {
    auto parsed = Parse(emulator);
    if (!parsed) return InvalidArgument("STORAGE_EMULATOR_HOST: " + parsed.error().message);
    return parsed;
  }
  return HttpEndpoint{};
}

std::string EncodeObjectName(const std::string& name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(name.size());
  for (unsigned char c : name) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// One fetch. Created and completed on the engine thread; run by one worker in between. `done` and the
// work guard are only touched on the engine thread.
struct HttpTransport::Job {
  FetchId id = 0;
  ObjectRef object;
  ByteRange range;
  FetchTarget target;  // a fetch's destination; a stream's current pull's (under mutex_)
  FetchCallback done;  // a fetch's callback; a stream's current pull's
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::atomic<bool> cancelled{false};
  // Streams only; guarded by the transport's mutex_ (the callbacks are run on the engine thread).
  bool stream = false;
  std::condition_variable pull_ready;
  bool pulling = false;
  std::uint64_t pull_length = 0;
  std::uint64_t pull_filled = 0;
  std::uint64_t taken = 0;      // bytes of the range pulls have asked for (engine thread)
  std::optional<Error> failed;  // the request failed or the body broke: every later pull fails
  bool closing = false;         // CloseStream was called
  bool worker_done = false;     // the worker has finished with it (or never started it)
  std::uint64_t unread = 0;     // bytes read off the socket that no pull took
  StreamClosedCallback closed;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> pull_work;
};

// A pooled worker (its thread and its connection), or a stream's connection (no thread of its own).
struct HttpTransport::Worker {
  std::unique_ptr<httplib::Client> client;     // https
  std::unique_ptr<PlainHttpConnection> plain;  // http
  std::thread thread;
  // A pooled worker waits on its own condition for the job Fetch hands it (under mutex_), so that the
  // transport, not the condition variable's wake-up order, chooses which connection a request uses.
  std::condition_variable wake;
  std::shared_ptr<Job> next;
};

std::unique_ptr<HttpTransport::Worker> HttpTransport::MakeWorker() const {
  auto worker = std::make_unique<Worker>();
  if (endpoint_.scheme == "http") {
    worker->plain = std::make_unique<PlainHttpConnection>(endpoint_.host, endpoint_.port, options_.connect_timeout,
                                                          options_.read_timeout);
    return worker;
  }
  worker->client = std::make_unique<httplib::Client>(endpoint_.Url());
  worker->client->set_keep_alive(true);
  worker->client->set_tcp_nodelay(true);  // small ranged GETs must not wait for delayed ACKs
  worker->client->set_connection_timeout(SecondsPart(options_.connect_timeout), MicrosPart(options_.connect_timeout));
  worker->client->set_read_timeout(SecondsPart(options_.read_timeout), MicrosPart(options_.read_timeout));
  worker->client->set_write_timeout(SecondsPart(options_.read_timeout), MicrosPart(options_.read_timeout));
  if (!options_.ca_file.empty()) worker->client->set_ca_cert_path(options_.ca_file);
  return worker;
}

HttpTransport::HttpTransport(AsioScheduler* scheduler, HttpEndpoint endpoint, HttpTransportOptions options)
    : scheduler_(scheduler), endpoint_(std::move(endpoint)), options_(std::move(options)) {
  const std::uint32_t n = std::max<std::uint32_t>(1, options_.connections);
  for (std::uint32_t i = 0; i < n; ++i) workers_.push_back(MakeWorker());
  // All idle from the start, in a fixed order, before any thread runs: were each to make itself idle
  // when its thread first ran, one starting late on a busy host would go on top of the stack after a
  // worker that had already answered a request, and take the next one on a new connection.
  for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) idle_workers_.push_back(it->get());
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    w->thread = std::thread([this, w] { WorkerLoop(w); });
  }
  // Ready before the first stream: a thread started when a stream opens waits for its clone and, on a
  // busy host, for a core (0.5-1 ms median, up to 5 ms, on a loaded 2-core machine), which gcsfuse's
  // goroutines do not pay.
  stream_threads_started_ = options_.stream_threads;
  idle_stream_threads_ = options_.stream_threads;  // counted idle from their start, as OpenStream counts its own
  for (std::uint32_t i = 0; i < options_.stream_threads; ++i) stream_threads_.emplace_back([this] { StreamLoop(); });
}

HttpTransport::~HttpTransport() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (auto& [id, job] : jobs_) {
      job->cancelled = true;
      job->pull_ready.notify_all();
    }
  }
  for (auto& worker : workers_) worker->wake.notify_all();
  stream_wake_.notify_all();
  auto stop = [](Worker& worker) {
    if (worker.client) worker.client->stop();
    if (worker.plain) worker.plain->Stop();
  };
  for (auto& worker : workers_) stop(*worker);
  {
    // Under the lock: a stream thread drops its connection only after taking it out of this set.
    std::lock_guard<std::mutex> lock(mutex_);
    for (Worker* connection : busy_connections_) stop(*connection);
  }
  for (auto& worker : workers_) worker->thread.join();
  for (auto& thread : stream_threads_) thread.join();
  // Completions already posted hold their jobs; queued jobs that never ran are dropped here with their
  // callbacks (we are on the engine thread), and their work guards released.
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.clear();
  for (auto& worker : workers_) worker->next.reset();
  stream_queue_.clear();
  jobs_.clear();
}

std::string HttpTransport::ObjectKey(const ObjectRef& object) const {
  return object.bucket + '\n' + object.name;
}

FetchId HttpTransport::Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) {
  auto job = std::make_shared<Job>();
  job->object = object;
  job->range = range;
  job->target = std::move(target);
  job->done = std::move(done);
  job->work.emplace(boost::asio::make_work_guard(scheduler_->context()));
  // The worker that went idle last takes it: its connection is the one most likely still open, and no
  // connection is opened while an idle worker holds one. (Waking any idle worker, as one shared
  // condition variable does, rotates requests over every worker, and each opens its connection on its
  // first: single requests one after another connected 10 times in 24 requests.) None idle: it waits.
  std::lock_guard<std::mutex> lock(mutex_);
  job->id = next_id_++;
  const FetchId id = job->id;
  jobs_.emplace(id, job);
  if (idle_workers_.empty()) {
    queue_.push_back(std::move(job));
    return id;
  }
  Worker* worker = idle_workers_.back();
  idle_workers_.pop_back();
  worker->next = std::move(job);
  worker->wake.notify_one();
  return id;
}

StreamId HttpTransport::OpenStream(const ObjectRef& object, ByteRange range) {
  auto job = std::make_shared<Job>();
  job->object = object;
  job->range = range;
  job->stream = true;
  // No work guard while nobody waits on it: an idle open stream must not keep the engine running.
  // A stream thread that is idle takes it; when none is, one more is started (the pool grows to the
  // most streams open at once, and its threads wait for the next stream after).
  bool start_thread = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job->id = next_id_++;
    jobs_.emplace(job->id, job);
    stream_queue_.push_back(job);
    start_thread = stream_queue_.size() > idle_stream_threads_;
    if (start_thread) ++idle_stream_threads_;  // it takes the stream as soon as it runs
  }
  if (start_thread) {
    ++stream_threads_started_;
    stream_threads_.emplace_back([this] { StreamLoop(); });
  } else {
    stream_wake_.notify_one();
  }
  return job->id;
}

bool HttpTransport::Reusable(const Worker& connection) {
  return connection.plain ? connection.plain->connected() : connection.client->is_socket_open() != 0;
}

void HttpTransport::StreamLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {  // idle (counted in idle_stream_threads_) at the top of each turn
    stream_wake_.wait(lock, [&] { return stopping_ || !stream_queue_.empty(); });
    if (stopping_) return;
    --idle_stream_threads_;
    std::shared_ptr<Job> job = std::move(stream_queue_.front());
    stream_queue_.pop_front();
    std::unique_ptr<Worker> connection;
    if (!idle_connections_.empty()) {
      connection = std::move(idle_connections_.back());
      idle_connections_.pop_back();
    } else {
      lock.unlock();  // an https client sets up its TLS context: not under the lock
      connection = MakeWorker();
      ++stream_connections_;
      lock.lock();
      if (stopping_) return;  // the destructor drops the job with its callbacks
    }
    busy_connections_.insert(connection.get());
    lock.unlock();
    FetchOutcome outcome =
        job->cancelled ? FetchOutcome{Cancelled("stream closed"), 0} : Execute(connection.get(), *job);
    // A body read to its end leaves the connection open and idle (kept alive), even when the stream
    // was closed just after its last pull; one abandoned or broken before its end has been dropped.
    // Our http connection is open only after a complete exchange (it drops itself otherwise); for
    // cpp-httplib the stream must also have completed, since that an abandoned body closes its socket is
    // not part of its documented interface.
    const bool reuse = Reusable(*connection) && (connection->plain || outcome.status.ok());
    lock.lock();
    busy_connections_.erase(connection.get());
    if (reuse && !stopping_) idle_connections_.push_back(std::move(connection));
    // Idle again before the stream's end is posted, so that a stream opened after it finds this thread
    // and the connection.
    ++idle_stream_threads_;
    EndStream(job, std::move(outcome));
    lock.unlock();
    job.reset();
    connection.reset();  // a dropped connection is closed outside the lock
    lock.lock();
  }
}

void HttpTransport::ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second->stream || it->second->pulling || it->second->closing) {
    throw std::logic_error("HttpTransport::ReadStream: unknown or closed stream, or a pull already running");
  }
  const std::shared_ptr<Job>& job = it->second;
  length = std::min(length, job->range.size() - job->taken);
  job->taken += length;
  job->pulling = true;
  job->pull_length = length;
  job->pull_filled = 0;
  job->target = std::move(target);
  job->done = std::move(done);
  job->pull_work.emplace(boost::asio::make_work_guard(scheduler_->context()));
  if (job->failed) {
    PostPullDone(*job, FetchOutcome{*job->failed, 0});
  } else if (length == 0) {
    PostPullDone(*job, FetchOutcome{OkStatus(), 0});
  } else {
    job->pull_ready.notify_all();
  }
}

void HttpTransport::CloseStream(StreamId id, StreamClosedCallback closed) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second->stream || it->second->closing) {
    throw std::logic_error("HttpTransport::CloseStream: unknown or closed stream");
  }
  std::shared_ptr<Job> job = it->second;
  job->closing = true;
  job->work.emplace(boost::asio::make_work_guard(scheduler_->context()));  // until `closed` has run
  job->cancelled = true;  // a worker that has not started it skips it; one feeding it drops the connection
  job->closed = std::move(closed);
  if (job->pulling) PostPullDone(*job, FetchOutcome{Cancelled("stream closed"), 0});
  job->pull_ready.notify_all();
  if (job->worker_done) PostClosed(job);
}

void HttpTransport::PostPullDone(Job& job, FetchOutcome outcome) {
  // The pull's target and callback leave the job now, so the next pull (made from inside this
  // callback) can take their place. The chunk reference is dropped on the engine thread.
  job.pulling = false;
  scheduler_->PostFromAnyThread([target = std::move(job.target), done = std::move(job.done),
                                 work = std::move(job.pull_work), outcome = std::move(outcome)]() mutable {
    target.chunk->AddFilled(outcome.bytes_received);
    done(outcome);
  });
  job.pull_work.reset();
  job.target = {};
  job.done = nullptr;
}

void HttpTransport::PostClosed(const std::shared_ptr<Job>& job) {
  jobs_.erase(job->id);
  scheduler_->PostFromAnyThread([job] {
    StreamClosedCallback closed = std::move(job->closed);
    const std::uint64_t unread = job->unread;
    job->work.reset();
    closed(std::uint64_t{unread});
  });
}

bool HttpTransport::Feed(Job& job, const char* data, std::size_t length) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (length > 0) {
    job.pull_ready.wait(lock, [&] { return job.pulling || job.cancelled || stopping_; });
    if (job.cancelled || stopping_) {
      job.unread += length;
      return false;
    }
    // Copied under the lock: CloseStream may take the pull's chunk away at any moment.
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(length, job.pull_length - job.pull_filled));
    std::memcpy(job.target.chunk->mutable_data() + job.target.offset + job.pull_filled, data, take);
    job.pull_filled += take;
    bytes_received_ += take;
    data += take;
    length -= take;
    if (job.pull_filled == job.pull_length) PostPullDone(job, FetchOutcome{OkStatus(), job.pull_length});
  }
  return true;
}

void HttpTransport::EndStream(const std::shared_ptr<Job>& job, FetchOutcome outcome) {
  job->worker_done = true;
  if (stopping_) return;  // the destructor drops it with its callbacks
  if (!outcome.status.ok() && !job->closing) {
    job->failed = outcome.status.error();
    if (job->pulling) PostPullDone(*job, FetchOutcome{*job->failed, job->pull_filled});
  }
  if (job->closing) PostClosed(job);
}

void HttpTransport::Cancel(FetchId id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second->stream) return;  // streams end with CloseStream
    job = it->second;
  }
  // The worker notices at its next chunk of body (or before it starts); the completion stays its job,
  // so it still happens exactly once.
  job->cancelled = true;
}

void HttpTransport::WorkerLoop(Worker* worker) {
  std::shared_ptr<Job> job;  // the one just run, then the next
  FetchOutcome outcome{OkStatus(), 0};
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopping_) return;  // jobs_ still holds a job just run: the destructor drops it on the engine thread
    std::shared_ptr<Job> done = std::move(job);
    if (done) {
      jobs_.erase(done->id);
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
      } else {
        // Idle before the completion is posted: a request that the completion's callback makes at once
        // finds this worker, and its connection, rather than a colder one.
        idle_workers_.push_back(worker);
      }
      lock.unlock();
      // Handed over, not copied: the engine thread must hold the last reference, because dropping the
      // job releases its chunk, and chunks report to the run's (single-threaded) MemoryAccount.
      Complete(std::move(done), std::move(outcome));
      lock.lock();
    }
    if (!job) {
      worker->wake.wait(lock, [&] { return stopping_ || worker->next != nullptr; });
      if (stopping_) return;
      job = std::move(worker->next);
    }
    lock.unlock();
    outcome = job->cancelled ? FetchOutcome{Cancelled("fetch cancelled"), 0} : Execute(worker, *job);
    lock.lock();
  }
}

void HttpTransport::Complete(std::shared_ptr<Job> job, FetchOutcome outcome) {
  scheduler_->PostFromAnyThread([job = std::move(job), outcome = std::move(outcome)]() mutable {
    job->target.chunk->AddFilled(outcome.bytes_received);
    FetchCallback done = std::move(job->done);
    job->work.reset();
    done(outcome);
  });
}

FetchOutcome HttpTransport::Execute(Worker* worker, Job& job) {
  const ByteRange range = job.range;
  const std::string what = "GET gs://" + job.object.bucket + "/" + job.object.name + " bytes " +
                           std::to_string(range.begin) + "-" + std::to_string(range.end);
  if (range.empty()) return FetchOutcome{OkStatus(), 0};
  std::int64_t pinned = job.object.generation;
  const bool asked_generation = pinned != 0;  // the caller named it; else it is learned from responses
  if (pinned == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = generations_.find(ObjectKey(job.object)); it != generations_.end()) pinned = it->second;
  }
  std::string path =
      "/storage/v1/b/" + EncodeObjectName(job.object.bucket) + "/o/" + EncodeObjectName(job.object.name) + "?alt=media";
  if (pinned != 0) path += "&generation=" + std::to_string(pinned);
  std::vector<std::pair<std::string, std::string>> headers{
      {"Range", "bytes=" + std::to_string(range.begin) + "-" + std::to_string(range.end - 1)}};
  std::string authorization;
  if (options_.credentials) {
    auto header = options_.credentials->AuthorizationHeader();
    if (!header) {
      Error error = header.error();
      error.message = what + ": " + error.message;
      return FetchOutcome{std::move(error), 0};
    }
    authorization = std::move(*header);
    if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
  }
  for (const auto& [key, value] : options_.extra_headers) headers.emplace_back(key, value);
  const bool whole_object = range.begin == 0 && range.end == job.object.size && !job.stream;
  std::optional<std::uint32_t> expected_crc;

  std::byte* dest = job.stream ? nullptr : job.target.chunk->mutable_data() + job.target.offset;
  const std::uint64_t want = range.size();
  std::uint64_t received = 0;
  std::uint64_t skip = 0;  // bytes to drop first when a server answers 200 with the whole object
  int status = 0;
  std::string error_body;
  std::optional<Error> failure;
  bool overflow = false;

  ++requests_;
  // A 200 or 206 must say it carries what was asked before any of its bytes is taken. One that does
  // not (an error page served as 200, another range, another size or generation) is refused whole:
  // no byte of it reaches the chunk, and the failure is retryable, since the next answer may be right.
  auto refuse = [&](const std::string& why) {
    failure = Error{ErrorCode::kDataLoss, what + ": refused the HTTP " + std::to_string(status) + " response: " + why,
                    true, status};
    return false;
  };
  // When the request went out on this worker's connection and when its response began (clock reads,
  // safe from this worker thread).
  ResponseTiming timing{scheduler_->Now(), -1};
  const std::function<bool(const ResponseHead&)> on_head = [&](const ResponseHead& response) {
    timing.first_byte = scheduler_->Now();
    status = response.status;
    if (status != 200 && status != 206) return true;  // read the error body for its message
    std::optional<std::uint64_t> length;
    if (response.Has("Content-Length")) {
      length = ParseDecimal(response.Get("Content-Length"));
      if (!length) return refuse("Content-Length '" + response.Get("Content-Length") + "' is not a number");
    }
    if (response.Has("x-goog-generation")) {
      const std::string text = response.Get("x-goog-generation");
      const auto seen = ParseDecimal(text);
      if (!seen || *seen > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return refuse("x-goog-generation '" + text + "' is not a generation");
      }
      const auto generation = static_cast<std::int64_t>(*seen);
      if (pinned == 0 && generation != 0) {
        // Another request may have pinned the object since this one started: compare with that.
        std::lock_guard<std::mutex> lock(mutex_);
        pinned = generations_.emplace(ObjectKey(job.object), generation).first->second;
      }
      if (pinned != 0 && generation != pinned) {
        failure = Error{ErrorCode::kFailedPrecondition,
                        what + ": the object changed during the read (generation " + std::to_string(generation) +
                            ", expected " + std::to_string(pinned) + ")",
                        true, status};
        return false;
      }
    }
    if (whole_object) {
      // x-goog-hash may come as several lines or one comma-joined line.
      const std::string hashes = response.Joined("x-goog-hash");
      if (auto b64 = FindGoogHash(hashes, "crc32c")) {
        if (auto raw = Base64Decode(*b64); raw && raw->size() == 4) {
          const auto* u = reinterpret_cast<const unsigned char*>(raw->data());
          expected_crc = std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 | u[3];
        }
      }
    }
    const std::string asked = std::to_string(range.begin) + "-" + std::to_string(range.end - 1);
    if (status == 206) {
      const std::string value = response.Get("Content-Range");
      const auto content_range = ParseContentRange(value);
      if (!content_range) return refuse("Content-Range '" + value + "' is missing or malformed");
      if (content_range->first != range.begin || content_range->last + 1 != range.end) {
        return refuse("Content-Range '" + value + "' is not the bytes asked for (" + asked + ")");
      }
      if (content_range->total && *content_range->total != job.object.size) {
        return refuse("Content-Range '" + value + "' says the object has " + std::to_string(*content_range->total) +
                      " bytes, not " + std::to_string(job.object.size));
      }
      if (length && *length != want) {
        return refuse("Content-Length " + std::to_string(*length) + " is not the " + std::to_string(want) +
                      " bytes asked for");
      }
    } else {
      // A 200 ignores the Range and sends the whole object; it holds our range only if it is the object,
      // whole, at the size we know.
      if (!length) return refuse("no Content-Length, so it cannot be checked to be the whole object");
      if (*length != job.object.size) {
        return refuse("Content-Length " + std::to_string(*length) + " is not the object's " +
                      std::to_string(job.object.size) + " bytes (asked for " + asked + ")");
      }
      skip = range.begin;
    }
    return true;
  };
  const std::function<bool(const char*, std::size_t)> on_body = [&](const char* data, std::size_t length) {
    if (status != 200 && status != 206) {
      error_body.append(data, std::min(length, kMaxErrorBody - std::min(kMaxErrorBody, error_body.size())));
      return true;
    }
    if (job.cancelled) return false;
    if (skip > 0) {
      const std::size_t drop = static_cast<std::size_t>(std::min<std::uint64_t>(skip, length));
      skip -= drop;
      data += drop;
      length -= drop;
    }
    const std::uint64_t room = want - received;
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(room, length));
    if (job.stream) {
      if (!Feed(job, data, take)) return false;
    } else {
      std::memcpy(dest + received, data, take);
      bytes_received_ += take;
    }
    received += take;
    if (take < length) {
      // A 200 carries the rest of the object: stop once our range is in. A 206 must not overrun.
      if (status == 206) overflow = true;
      return false;
    }
    return !(status == 200 && received == want);
  };
  std::string wire_error;  // empty when the exchange completed
  // Counted for pooled workers only (a stream's connection is counted where it is taken): after the
  // exchange over http, whose connection may replace one the server closed; before it over https.
  const std::uint64_t connects_before = worker->plain ? worker->plain->connects() : 0;
  if (!job.stream && worker->client && !Reusable(*worker)) ++connections_;
  if (worker->plain) {
    // A 206 of exactly the range is received straight into the chunk.
    const std::function<bool(std::size_t)> on_direct = [&](std::size_t n) {
      received += n;
      bytes_received_ += n;
      return !job.cancelled.load();
    };
    wire_error = job.stream ? worker->plain->Get(path, headers, on_head, on_body)
                            : worker->plain->Get(path, headers, on_head, on_body, reinterpret_cast<char*>(dest),
                                                 static_cast<std::size_t>(want), on_direct);
    if (!job.stream) connections_ += worker->plain->connects() - connects_before;
  } else {
    httplib::Headers h(headers.begin(), headers.end());
    auto result = worker->client->Get(
        path, h,
        [&](const httplib::Response& r) {
          ResponseHead head;
          head.status = r.status;
          for (const auto& [k, v] : r.headers) head.headers.emplace(k, v);
          return on_head(head);
        },
        [&](const char* data, std::size_t length) { return on_body(data, length); });
    if (!result && result.error() == httplib::Error::SSLServerVerification) {
      wire_error =
          "the server's TLS certificate is not trusted (for a private certificate authority, pass its "
          "certificate with --ca-file)";
    } else if (!result && result.error() != httplib::Error::Canceled) {
      wire_error = httplib::to_string(result.error());
    }
  }

  if (job.cancelled) return FetchOutcome{Cancelled("fetch cancelled"), received};
  if (failure) return FetchOutcome{std::move(*failure), received};  // refused in on_head: nothing received
  if (status == 200 || status == 206) {
    if (overflow) {
      // Only a body without Content-Length can run on; what it carried cannot be trusted.
      if (!job.stream) bytes_received_ -= received;
      return FetchOutcome{Error{ErrorCode::kDataLoss, what + ": the server sent more bytes than asked", true, status},
                          job.stream ? received : 0};
    }
    if (received == want) {
      if (expected_crc) {
        const std::uint32_t crc = Crc32cExtend(0, dest, want);
        if (crc != *expected_crc) {
          // Nothing of the body can be trusted: report no bytes received so a retry starts over.
          bytes_received_ -= received;
          return FetchOutcome{Error{ErrorCode::kDataLoss,
                                    what + ": CRC32C mismatch (got " + Crc32cToBase64(crc) + ", x-goog-hash says " +
                                        Crc32cToBase64(*expected_crc) + ")",
                                    true, status},
                              0};
        }
      }
      return FetchOutcome{OkStatus(), received, timing.sent, timing.first_byte};
    }
    // The head was checked, so the bytes that did arrive are the range's first ones: a retry resumes.
    const std::string why = wire_error.empty() ? "the body ended" : "the connection failed (" + wire_error + ")";
    return FetchOutcome{Unavailable(what + ": " + why + " after " + std::to_string(received) + " of " +
                                    std::to_string(want) + " bytes"),
                        received};
  }
  if (status == 0)
    return FetchOutcome{Unavailable(what + ": " + (wire_error.empty() ? "no response" : wire_error)), received};
  // An error status: its kind decides; an error body cut short still gives what it had of its message.
  const std::string detail = what + ": HTTP " + std::to_string(status) + ": " + ErrorDetail(error_body);
  Error error = HttpStatusError(status, detail);
  if (status == 404 && pinned != 0 && !asked_generation) {
    // An earlier response showed this generation: it went away during the read.
    error.message += " (generation " + std::to_string(pinned) + " is gone: overwritten or deleted during the read?)";
  } else if (status == 401 && options_.credentials && options_.credentials->Rejected(authorization)) {
    error.retryable = true;  // the retry carries a fresh token
    error.message += " (the token was refused: a fresh one is fetched for the retry)";
  }
  return FetchOutcome{std::move(error), received};
}

}  // namespace pflab
