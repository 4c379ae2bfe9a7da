// HttpTransport against a small scriptable server in this file (127.0.0.1, port picked at run time):
// ranged GETs land byte-exact in the chunk, errors map to retryable or not with the object and range
// in the message, broken streams resume through ConcurrentFetcher, generations are pinned, and
// cancels complete exactly once.
#include "net/http_transport.h"

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/concurrent_fetcher.h"
#include "engine/synthetic_content.h"
#include "net/credentials.h"
#include "tests/support/auth_fakes.h"
#include "tests/support/cli_runner.h"

namespace pflab {
namespace {

constexpr std::uint64_t kSize = 3'000'000;

// Serves one synthetic object "bkt"/"dir/a b+c" of kSize bytes; `script` may change any answer.
class ScriptedServer {
 public:
  struct Request {
    std::string path;
    std::string range;
    std::string generation;
    int remote_port = 0;  // tells connections apart
  };
  // Returns true when it has answered the request itself.
  using Script = std::function<bool(int n, const httplib::Request&, httplib::Response&)>;

  explicit ScriptedServer(Script script = nullptr) : script_(std::move(script)) {
    server_.Get(R"(/storage/v1/b/([^/]+)/o/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      int n;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        n = static_cast<int>(requests_.size());
        requests_.push_back(
            {req.target, req.get_header_value("Range"), req.get_param_value("generation"), req.remote_port});
      }
      if (script_ && script_(n, req, res)) return;
      if (req.matches[1] != "bkt" || req.matches[2] != "dir/a b+c") {
        res.status = 404;
        res.set_content(R"({"error":{"code":404,"message":"No such object: )" + std::string(req.matches[1]) + "/" +
                            std::string(req.matches[2]) + R"("}})",
                        "application/json");
        return;
      }
      ServeRange(req, res, generation_.load());
    });
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ScriptedServer() {
    server_.stop();
    thread_.join();
  }

  static std::uint64_t Seed(std::int64_t generation) { return ObjectSeed("bkt", "dir/a b+c", generation); }

  // The object, with the request's Range applied: httplib slices a whole-object content provider
  // itself (206 and Content-Range), so the provider sees object offsets. `cut` drops the connection
  // after that many body bytes.
  static void ServeRange(const httplib::Request& req, httplib::Response& res, std::int64_t generation,
                         std::uint64_t cut = ~0ull) {
    const std::uint64_t first = req.ranges.empty() ? 0 : static_cast<std::uint64_t>(req.ranges[0].first);
    res.set_header("x-goog-generation", std::to_string(generation));
    res.set_content_provider(kSize, "application/octet-stream",
                             [first, generation, cut](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               const std::uint64_t sent = offset - first;
                               if (sent >= cut) return false;  // drop the connection mid-body
                               const std::uint64_t n = std::min<std::uint64_t>({65536, length, cut - sent});
                               std::string buf(n, '\0');
                               FillSynthetic(Seed(generation), offset, reinterpret_cast<std::byte*>(buf.data()), n);
                               sink.write(buf.data(), buf.size());
                               return true;
                             });
  }

  HttpEndpoint endpoint() const { return HttpEndpoint{"http", "127.0.0.1", port_}; }
  void set_keep_alive_timeout(int seconds) { server_.set_keep_alive_timeout(seconds); }
  // httplib closes a connection after 5 requests unless told otherwise (GCS and the fake server do not).
  void set_keep_alive_max_count(std::size_t n) { server_.set_keep_alive_max_count(n); }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  std::atomic<std::int64_t> generation_{7};

 private:
  Script script_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Request> requests_;
};

struct NullEvents final : EventSink {
  void OnEvent(const Event&) override {}
};

HttpTransportOptions Connections(std::uint32_t n) {
  HttpTransportOptions options;
  options.connections = n;
  return options;
}

ObjectRef Object(std::int64_t generation = 0) {
  return ObjectRef{"bkt", "dir/a b+c", generation, kSize};
}

// One transport fetch, run to completion on the scheduler.
FetchOutcome FetchOnce(HttpTransport& transport, AsioScheduler& scheduler, ByteRange range,
                       ChunkRef* chunk_out = nullptr, std::int64_t generation = 0, MemoryAccount* account = nullptr) {
  static MemoryAccount fallback;
  auto chunk = Chunk::Make(range.size(), true, account ? account : &fallback);
  std::optional<FetchOutcome> got;
  int calls = 0;
  transport.Fetch(Object(generation), range, {chunk, 0}, [&](const FetchOutcome& o) {
    got = o;
    ++calls;
  });
  CHECK(calls == 0);  // never inline
  scheduler.RunFor(20 * kSecond);
  REQUIRE(got.has_value());
  CHECK(calls == 1);
  if (chunk_out) *chunk_out = chunk;
  return *got;
}

void CheckBytes(const std::byte* data, std::uint64_t offset, std::uint64_t length, std::int64_t generation = 7) {
  const std::uint64_t seed = ScriptedServer::Seed(generation);
  for (std::uint64_t i = 0; i < length; ++i) {
    if (data[i] != SyntheticByte(seed, offset + i)) FAIL("byte " << offset + i << " differs");
  }
}

TEST_CASE("http transport: endpoints parse - STORAGE_EMULATOR_HOST is honoured", "[engine][http]") {
  auto a = HttpEndpoint::Parse("http://127.0.0.1:4443/");
  REQUIRE(a);
  CHECK(a->scheme == "http");
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 4443);
  CHECK(a->Url() == "http://127.0.0.1:4443");
  auto bare = HttpEndpoint::Parse("localhost:9023");
  REQUIRE(bare);
  CHECK(bare->Url() == "http://localhost:9023");
  CHECK(HttpEndpoint::Parse("https://storage.googleapis.com")->port == 443);
  CHECK(!HttpEndpoint::Parse("ftp://x"));
  CHECK(!HttpEndpoint::Parse("http://x:99999"));
  CHECK(!HttpEndpoint::Parse("http://x/storage"));
  CHECK(!HttpEndpoint::Parse("http://bad host:80"));  // not a host name: an error here, not a failed connect
  CHECK(!HttpEndpoint::Parse("http://a@b"));
  ::setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1234", 1);
  CHECK(HttpEndpoint::FromEnvironment()->Url() == "http://127.0.0.1:1234");
  ::unsetenv("STORAGE_EMULATOR_HOST");
  CHECK(HttpEndpoint::FromEnvironment()->Url() == "https://storage.googleapis.com");
  CHECK(EncodeObjectName("dir/a b+c\xc3\xa9~") == "dir%2Fa%20b%2Bc%C3%A9~");
}

TEST_CASE("http transport: a ranged GET lands byte-exact in the chunk", "[engine][http]") {
  ScriptedServer server;
  AsioScheduler scheduler;
  MemoryAccount account;
  {
    HttpTransport transport(&scheduler, server.endpoint(), Connections(2));
    ChunkRef chunk;
    const FetchOutcome o = FetchOnce(transport, scheduler, {12345, 12345 + 1'000'000}, &chunk, 0, &account);
    REQUIRE(o.status.ok());
    CHECK(o.bytes_received == 1'000'000);
    CHECK(chunk->filled() == 1'000'000);
    CheckBytes(chunk->data(), 12345, 1'000'000);
    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].path == "/storage/v1/b/bkt/o/dir%2Fa%20b%2Bc?alt=media");
    CHECK(requests[0].range == "bytes=12345-1012344");
    CHECK(transport.requests() == 1);
  }
  CHECK(account.held_bytes() == 0);
}

// What a real client sees of a request's time, as the policies measure it (Source::completing_timing):
// the server takes 60 ms before its response head, then 60 ms between the body's 64 KiB pieces.
TEST_CASE("http transport: an outcome tells when the request went out and when its response began", "[engine][http]") {
  ScriptedServer server([](int, const httplib::Request& req, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    const std::uint64_t first = static_cast<std::uint64_t>(req.ranges[0].first);
    res.set_header("x-goog-generation", "7");
    res.set_content_provider(
        kSize, "application/octet-stream", [first](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          if (offset > first) std::this_thread::sleep_for(std::chrono::milliseconds(60));
          const std::size_t n = std::min<std::size_t>(65536, length);
          std::string buf(n, '\0');
          FillSynthetic(ScriptedServer::Seed(7), offset, reinterpret_cast<std::byte*>(buf.data()), n);
          sink.write(buf.data(), buf.size());
          return true;
        });
    return true;
  });
  AsioScheduler scheduler;
  MemoryAccount account;
  {
    HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
    auto chunk = Chunk::Make(200'000, true, &account);
    std::optional<FetchOutcome> got;
    Nanos done_at = -1;
    const Nanos before = scheduler.Now();
    transport.Fetch(Object(), {1000, 201'000}, {chunk, 0}, [&](const FetchOutcome& o) {
      got = o;
      done_at = scheduler.Now();
    });
    scheduler.RunFor(20 * kSecond);
    REQUIRE(got.has_value());
    REQUIRE(got->status.ok());
    CheckBytes(chunk->data(), 1000, 200'000);
    CHECK(got->sent_at >= before);
    CHECK(got->first_byte_at - got->sent_at >= 60 * kMillisecond);  // the server's first byte
    CHECK(done_at - got->first_byte_at >= 120 * kMillisecond);      // the body's two later pieces
  }
  CHECK(account.held_bytes() == 0);
}

TEST_CASE("http transport: HTTP errors name the object and range - only 408 429 5xx are retryable", "[engine][http]") {
  int status_to_send = 0;
  ScriptedServer server([&](int, const httplib::Request&, httplib::Response& res) {
    res.status = status_to_send;
    res.set_content(R"({"error":{"code":)" + std::to_string(status_to_send) + R"(,"message":"scripted failure"}})",
                    "application/json");
    return true;
  });
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  struct Case {
    int status;
    ErrorCode code;
    bool retryable;
  };
  for (const Case c : {Case{503, ErrorCode::kUnavailable, true}, Case{500, ErrorCode::kUnavailable, true},
                       Case{429, ErrorCode::kUnavailable, true}, Case{408, ErrorCode::kUnavailable, true},
                       Case{404, ErrorCode::kNotFound, false}, Case{403, ErrorCode::kPermissionDenied, false},
                       Case{412, ErrorCode::kFailedPrecondition, false}, Case{416, ErrorCode::kOutOfRange, false}}) {
    INFO("HTTP " << c.status);
    status_to_send = c.status;
    const FetchOutcome o = FetchOnce(transport, scheduler, {0, 100});
    REQUIRE(!o.status.ok());
    CHECK(o.status.error().code == c.code);
    CHECK(o.status.error().retryable == c.retryable);
    CHECK(o.status.error().http_status == c.status);
    CHECK((o.sent_at == -1 && o.first_byte_at == -1));  // a failed fetch tells no timing
    const std::string& message = o.status.error().message;
    CHECK(message.find("gs://bkt/dir/a b+c bytes 0-100") != std::string::npos);
    CHECK(message.find("HTTP " + std::to_string(c.status) + ": scripted failure") != std::string::npos);
  }
}

TEST_CASE("http transport: a broken stream reports its bytes - the fetcher resumes from there", "[engine][http]") {
  // Every first attempt at a range is cut after 300,000 bytes; a resumed one is served in full.
  ScriptedServer server([&](int n, const httplib::Request& req, httplib::Response& res) {
    ScriptedServer::ServeRange(req, res, 7, n == 0 ? 300'000 : ~0ull);
    return true;
  });
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  SECTION("the transport alone: retryable, with the bytes that arrived in place") {
    ChunkRef chunk;
    const FetchOutcome o = FetchOnce(transport, scheduler, {1000, 1'001'000}, &chunk);
    REQUIRE(!o.status.ok());
    CHECK(o.status.error().retryable);
    CHECK(o.bytes_received == 300'000);
    CheckBytes(chunk->data(), 1000, 300'000);
  }
  SECTION("through ConcurrentFetcher: resumed, every byte right") {
    NullEvents events;
    MemoryAccount account;
    ConcurrentFetcherOptions options;
    options.initial_backoff = kMillisecond;
    ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport, Object(), options, &account);
    std::optional<Result<Slices>> got;
    fetcher.Read({1000, 1'001'000}, [&](Result<Slices>&& r) { got = std::move(r); });
    scheduler.RunFor(20 * kSecond);
    REQUIRE(got.has_value());
    REQUIRE(got->ok());
    REQUIRE(TotalLength(**got) == 1'000'000);
    CheckBytes((**got)[0].data(), 1000, 1'000'000);
    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].range == "bytes=301000-1000999");
  }
}

TEST_CASE("http transport: the first generation seen is pinned - an overwrite is a refused response - not mixed bytes",
          "[engine][http]") {
  ScriptedServer server;  // ignores ?generation= and always serves the live version
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  ChunkRef chunk;
  REQUIRE(FetchOnce(transport, scheduler, {0, 1000}, &chunk).status.ok());
  CheckBytes(chunk->data(), 0, 1000, 7);
  REQUIRE(FetchOnce(transport, scheduler, {1000, 2000}).status.ok());
  server.generation_ = 8;  // overwritten between two reads of the same object
  const FetchOutcome o = FetchOnce(transport, scheduler, {2000, 3000});
  REQUIRE(!o.status.ok());
  CHECK(o.status.error().code == ErrorCode::kFailedPrecondition);
  // Retryable: the retry asks for generation 7 again, which GCS serves or answers 404 (gone) for.
  CHECK(o.status.error().retryable);
  CHECK(o.bytes_received == 0);  // no byte of generation 8 is kept
  CHECK(o.status.error().message.find("generation 8, expected 7") != std::string::npos);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].generation.empty());
  CHECK(requests[1].generation == "7");  // asked for the pinned version
  CHECK(requests[2].generation == "7");
}

TEST_CASE("http transport: a server that ignores Range still yields exactly the range", "[engine][http]") {
  ScriptedServer server([&](int, const httplib::Request& req, httplib::Response& res) {
    const_cast<httplib::Request&>(req).ranges.clear();  // httplib would honour it; this server does not
    ScriptedServer::ServeRange(req, res, 7);
    return true;
  });
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  ChunkRef chunk;
  const FetchOutcome o = FetchOnce(transport, scheduler, {100'000, 250'000}, &chunk);
  REQUIRE(o.status.ok());
  CheckBytes(chunk->data(), 100'000, 150'000);
}

TEST_CASE("http transport: cancel completes once with kCancelled - destroying with fetches queued is clean",
          "[engine][http]") {
  std::atomic<bool> release{false};
  ScriptedServer server([&](int, const httplib::Request& req, httplib::Response& res) {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ScriptedServer::ServeRange(req, res, 7);
    return true;
  });
  AsioScheduler scheduler;
  MemoryAccount account;
  {
    HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
    std::vector<std::optional<FetchOutcome>> got(3);
    std::vector<FetchId> ids;
    for (int i = 0; i < 3; ++i) {
      ids.push_back(transport.Fetch(Object(), {0, 2'000'000}, {Chunk::Make(2'000'000, true, &account), 0},
                                    [&got, i](const FetchOutcome& o) { got[static_cast<std::size_t>(i)] = o; }));
    }
    transport.Cancel(ids[1]);  // still queued behind the first
    transport.Cancel(ids[1]);
    transport.Cancel(12345);  // unknown ids are ignored
    release = true;
    scheduler.RunFor(20 * kSecond);
    REQUIRE(got[0].has_value());
    CHECK(got[0]->status.ok());
    REQUIRE(got[1].has_value());
    CHECK(got[1]->status.error().code == ErrorCode::kCancelled);
    REQUIRE(got[2].has_value());
    CHECK(got[2]->status.ok());
    // Destroyed with a fetch in flight (the server holds it): no callback, no leak (the sanitizer run
    // checks the latter), and the destructor does not wait for the server.
    release = false;
    transport.Fetch(Object(), {0, 10}, {Chunk::Make(10, true, &account), 0},
                    [](const FetchOutcome&) { FAIL("a fetch dropped with its transport must not call back"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  release = true;
  scheduler.RunFor(100 * kMillisecond);
  CHECK(account.held_bytes() == 0);
}

// One pull of a transport stream, run to completion.
FetchOutcome PullOnce(HttpTransport& transport, AsioScheduler& scheduler, StreamId id, std::uint64_t length,
                      MemoryAccount& account, ChunkRef* chunk_out = nullptr) {
  auto chunk = Chunk::Make(length, true, &account);
  std::optional<FetchOutcome> got;
  transport.ReadStream(id, length, {chunk, 0}, [&](const FetchOutcome& o) { got = o; });
  CHECK(!got.has_value());  // never inline
  scheduler.RunFor(20 * kSecond);
  REQUIRE(got.has_value());
  CHECK(chunk->filled() == got->bytes_received);
  if (chunk_out) *chunk_out = chunk;
  return *got;
}

std::uint64_t CloseOnce(HttpTransport& transport, AsioScheduler& scheduler, StreamId id) {
  std::optional<std::uint64_t> unread;
  transport.CloseStream(id, [&](std::uint64_t n) { unread = n; });
  CHECK(!unread.has_value());
  scheduler.RunFor(20 * kSecond);
  REQUIRE(unread.has_value());
  return *unread;
}

TEST_CASE("http transport: a stream is one GET whose body is pulled in order - it leaves the pool's workers free",
          "[engine][http][stream]") {
  ScriptedServer server;
  AsioScheduler scheduler;
  MemoryAccount account;
  {
    HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
    const StreamId id = transport.OpenStream(Object(), {1000, 2'001'000});
    std::uint64_t at = 1000;
    for (std::uint64_t length : {std::uint64_t{100000}, std::uint64_t{500000}, std::uint64_t{1400000}}) {
      ChunkRef chunk;
      const FetchOutcome o = PullOnce(transport, scheduler, id, length, account, &chunk);
      REQUIRE(o.status.ok());
      CHECK(o.bytes_received == length);
      CheckBytes(chunk->data(), at, length);
      at += length;
      if (at == 101'000) {
        // The idle open stream does not hold the only pooled worker: a fetch goes through meanwhile.
        ChunkRef other;
        REQUIRE(FetchOnce(transport, scheduler, {5, 105}, &other, 0, &account).status.ok());
        CheckBytes(other->data(), 5, 100);
      }
    }
    // Past the end a pull takes nothing.
    CHECK(PullOnce(transport, scheduler, id, 10, account).bytes_received == 0);
    CHECK(CloseOnce(transport, scheduler, id) == 0);
    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].range == "bytes=1000-2000999");
    CHECK(requests[1].range == "bytes=5-104");
    CHECK(transport.bytes_received() == 2'000'100);
  }
  CHECK(account.held_bytes() == 0);
}

TEST_CASE("http transport: a stream closed early drops its connection and reports what it held unread",
          "[engine][http][stream]") {
  ScriptedServer server;
  AsioScheduler scheduler;
  MemoryAccount account;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  const StreamId id = transport.OpenStream(Object(), {0, kSize});
  ChunkRef chunk;
  REQUIRE(PullOnce(transport, scheduler, id, 10'000, account, &chunk).status.ok());
  CheckBytes(chunk->data(), 0, 10'000);
  // The server keeps sending: the worker holds a piece of the body beyond the pull when it is closed.
  const std::uint64_t unread = CloseOnce(transport, scheduler, id);
  CHECK(unread > 0);
  CHECK(unread < kSize - 10'000);
  CHECK(transport.bytes_received() == 10'000);
  // The stream's connection is gone; the pool's is unaffected.
  REQUIRE(FetchOnce(transport, scheduler, {2'000'000, 2'500'000}, &chunk, 0, &account).status.ok());
  CheckBytes(chunk->data(), 2'000'000, 500'000);
  CHECK(server.requests().size() == 2);
}

TEST_CASE(
    "http transport: a stream read to its end leaves its thread and connection to the next; one closed early "
    "drops its connection",
    "[engine][http][stream]") {
  ScriptedServer server;
  AsioScheduler scheduler;
  MemoryAccount account;
  HttpTransportOptions options = Connections(1);
  options.stream_threads = 1;  // one ready; a second stream at once starts another
  HttpTransport transport(&scheduler, server.endpoint(), options);
  // Read to its end, as gcsfuse reads a stream up to its limit: the body reached EOF, so Go's transport
  // keeps the connection for the next request.
  auto read_whole = [&](ByteRange range) {
    const StreamId id = transport.OpenStream(Object(), range);
    ChunkRef chunk;
    REQUIRE(PullOnce(transport, scheduler, id, range.size(), account, &chunk).status.ok());
    CheckBytes(chunk->data(), range.begin, range.size());
    CHECK(CloseOnce(transport, scheduler, id) == 0);
  };
  read_whole({0, 100'000});
  read_whole({500'000, 700'000});
  CHECK(transport.stream_threads() == 1);
  CHECK(transport.stream_connections() == 1);
  // Closed before its end: the connection is dropped (its unread body would come first on it), so the
  // next stream connects anew, on the same thread.
  const StreamId early = transport.OpenStream(Object(), {1'000'000, kSize});
  ChunkRef chunk;
  REQUIRE(PullOnce(transport, scheduler, early, 1000, account, &chunk).status.ok());
  CheckBytes(chunk->data(), 1'000'000, 1000);
  CloseOnce(transport, scheduler, early);
  read_whole({2'000'000, 2'100'000});
  CHECK(transport.stream_threads() == 1);
  CHECK(transport.stream_connections() == 2);
  chunk.reset();
  // Two in flight at once need two threads and two connections (the idle one and a new one); both are
  // kept for later streams.
  const StreamId a = transport.OpenStream(Object(), {0, 100'000});
  const StreamId b = transport.OpenStream(Object(), {200'000, 300'000});
  for (const StreamId id : {a, b}) REQUIRE(PullOnce(transport, scheduler, id, 1000, account).status.ok());
  for (const StreamId id : {a, b}) REQUIRE(PullOnce(transport, scheduler, id, 99'000, account).status.ok());
  for (const StreamId id : {a, b}) CHECK(CloseOnce(transport, scheduler, id) == 0);
  INFO("threads " << transport.stream_threads() << ", connections " << transport.stream_connections());
  CHECK(transport.stream_threads() == 2);
  CHECK(transport.stream_connections() == 3);
  read_whole({40'000, 50'000});
  CHECK(transport.stream_threads() == 2);
  CHECK(transport.stream_connections() == 3);
  // The server saw it: the first two streams on one connection, the third on it too (then dropped),
  // the fourth on a new one; the two at once on two.
  const auto requests = server.requests();
  REQUIRE(requests.size() == 7);
  CHECK(requests[1].remote_port == requests[0].remote_port);
  CHECK(requests[2].remote_port == requests[0].remote_port);
  CHECK(requests[3].remote_port != requests[2].remote_port);
  CHECK(requests[4].remote_port != requests[5].remote_port);
  CHECK(account.held_bytes() == 0);
}

TEST_CASE("http transport: a stream's failed request fails its pull - later pulls fail at once",
          "[engine][http][stream]") {
  ScriptedServer server;
  AsioScheduler scheduler;
  MemoryAccount account;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(2));
  const StreamId id = transport.OpenStream(ObjectRef{"bkt", "missing", 0, 100}, {0, 100});
  const FetchOutcome first = PullOnce(transport, scheduler, id, 50, account);
  REQUIRE(!first.status.ok());
  CHECK(first.status.error().code == ErrorCode::kNotFound);
  CHECK(!first.status.error().retryable);
  CHECK(first.status.error().message.find("gs://bkt/missing bytes 0-100: HTTP 404") != std::string::npos);
  const FetchOutcome again = PullOnce(transport, scheduler, id, 50, account);
  CHECK(again.status.error().code == ErrorCode::kNotFound);
  CHECK(server.requests().size() == 1);
  CHECK(CloseOnce(transport, scheduler, id) == 0);
  CHECK_THROWS_AS(transport.ReadStream(id, 1, {Chunk::Make(1, true, &account), 0}, [](const FetchOutcome&) {}),
                  std::logic_error);
}

TEST_CASE("http transport: a broken stream fails its pull with the bytes in place - the fetcher reopens from there",
          "[engine][http][stream]") {
  ScriptedServer server([&](int n, const httplib::Request& req, httplib::Response& res) {
    ScriptedServer::ServeRange(req, res, 7, n == 0 ? 700'000 : ~0ull);
    return true;
  });
  AsioScheduler scheduler;
  MemoryAccount account;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  NullEvents events;
  ConcurrentFetcherOptions options;
  options.initial_backoff = kMillisecond;
  {
    ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport, Object(), options, &account);
    const StreamId id = fetcher.OpenStream({0, kSize});
    std::uint64_t at = 0;
    for (std::uint64_t length : {std::uint64_t{400000}, std::uint64_t{1000000}, kSize - 1400000}) {
      std::optional<Result<Slices>> got;
      fetcher.ReadStream(id, length, [&](Result<Slices>&& r) { got = std::move(r); });
      scheduler.RunFor(20 * kSecond);
      REQUIRE(got.has_value());
      REQUIRE(got->ok());
      REQUIRE(TotalLength(**got) == length);
      CheckBytes((**got)[0].data(), at, length);
      at += length;
    }
    fetcher.CloseStream(id);
    scheduler.RunFor(20 * kSecond);
  }
  const auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].range == "bytes=0-2999999");
  CHECK(requests[1].range == "bytes=700000-2999999");
  CHECK(account.held_bytes() == 0);
}

TEST_CASE("http transport: destroyed with streams open, idle or pulling, it stops at once without calling back",
          "[engine][http][stream]") {
  std::atomic<bool> release{false};
  ScriptedServer server([&](int n, const httplib::Request& req, httplib::Response& res) {
    if (n == 1) {
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ScriptedServer::ServeRange(req, res, 7);
    return true;
  });
  AsioScheduler scheduler;
  MemoryAccount account;
  {
    HttpTransport transport(&scheduler, server.endpoint(), Connections(2));
    const StreamId idle = transport.OpenStream(Object(), {0, kSize});
    REQUIRE(PullOnce(transport, scheduler, idle, 1000, account).status.ok());
    const StreamId held = transport.OpenStream(Object(), {0, kSize});  // the server holds its answer
    transport.ReadStream(held, 1000, {Chunk::Make(1000, true, &account), 0},
                         [](const FetchOutcome&) { FAIL("a pull dropped with its transport must not call back"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  release = true;
  scheduler.RunFor(100 * kMillisecond);
  CHECK(account.held_bytes() == 0);
}

// Copies what it is told about every fetch_fail (the error lives only during OnEvent).
struct FailureLog final : EventSink {
  struct Failure {
    std::string message;
    int http_status;
    std::uint32_t attempts;
    bool retryable;
  };
  std::vector<Failure> failures;
  int retries = 0;
  void OnEvent(const Event& e) override {
    if (e.type == EventType::kRetry) ++retries;
    if (e.type != EventType::kFetchFail) return;
    REQUIRE(e.error != nullptr);
    failures.push_back({e.error->message, e.error->http_status, e.error->attempts, e.error->retryable});
  }
};

TEST_CASE("http transport: a response that is not what was asked is refused whole - no byte kept - and retryable",
          "[engine][http][refused]") {
  // Each script answers a GET for [0, 100) (or [1000, 1100)) with something a careless client would take.
  using Script = std::function<void(const httplib::Request&, httplib::Response&)>;
  struct Case {
    const char* what;
    ByteRange range;
    Script answer;
    const char* why;
  };
  auto no_range = [](const httplib::Request& req) { const_cast<httplib::Request&>(req).ranges.clear(); };
  const std::vector<Case> cases = {
      {"a 200 with a short JSON error body (a proxy's or fault's answer to a ranged GET)",
       {0, 100},
       [&](const httplib::Request& req, httplib::Response& res) {
         no_range(req);
         res.status = 200;
         res.set_content(R"({"error":{"code":200,"message":"injected"}})", "application/json");
       },
       "is not the object's 3000000 bytes"},
      {"a 200 with the whole of a different-size object",
       {0, 100},
       [&](const httplib::Request& req, httplib::Response& res) {
         no_range(req);
         res.status = 200;
         res.set_content(std::string(kSize + 1, 'x'), "application/octet-stream");
       },
       "is not the object's 3000000 bytes"},
      {"a 206 without Content-Range",
       {0, 100},
       [&](const httplib::Request& req, httplib::Response& res) {
         no_range(req);
         res.status = 206;
         res.set_content(std::string(100, 'x'), "application/octet-stream");
       },
       "Content-Range '' is missing or malformed"},
      {"a 206 of other bytes",
       {0, 100},
       [&](const httplib::Request& req, httplib::Response& res) {
         no_range(req);
         res.status = 206;
         res.set_header("Content-Range", "bytes 1-100/3000000");
         res.set_content(std::string(100, 'x'), "application/octet-stream");
       },
       "is not the bytes asked for"},
      {"a 206 of the bytes asked for, of an object of another size",
       {1000, 1100},
       [&](const httplib::Request& req, httplib::Response& res) {
         no_range(req);
         res.status = 206;
         res.set_header("Content-Range", "bytes 1000-1099/2999999");
         res.set_content(std::string(100, 'x'), "application/octet-stream");
       },
       "says the object has 2999999 bytes, not 3000000"},
      {"a 206 whose Content-Length is not the range's",
       {1000, 1100},
       [&](const httplib::Request& req, httplib::Response& res) {
         no_range(req);
         res.status = 206;
         res.set_header("Content-Range", "bytes 1000-1099/3000000");
         res.set_content(std::string(50, 'x'), "application/octet-stream");
       },
       "Content-Length 50 is not the 100 bytes asked for"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    ScriptedServer server([&](int, const httplib::Request& req, httplib::Response& res) {
      c.answer(req, res);
      return true;
    });
    AsioScheduler scheduler;
    HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
    ChunkRef chunk;
    const FetchOutcome o = FetchOnce(transport, scheduler, c.range, &chunk);
    REQUIRE(!o.status.ok());
    INFO(o.status.error().message);
    CHECK(o.status.error().code == ErrorCode::kDataLoss);
    CHECK(o.status.error().retryable);
    CHECK(o.bytes_received == 0);
    CHECK(chunk->filled() == 0);
    CHECK(o.status.error().http_status != 0);
    CHECK(o.status.error().message.find("refused the HTTP") != std::string::npos);
    CHECK(o.status.error().message.find(c.why) != std::string::npos);
    CHECK(transport.bytes_received() == 0);
  }
}

TEST_CASE(
    "http transport: a refused 200 is retried by the fetcher - the read gets the object's bytes, the event log "
    "the reason",
    "[engine][http][refused]") {
  // The first answer is a 200 with a JSON error body; the one after it the real range.
  ScriptedServer server([&](int n, const httplib::Request& req, httplib::Response& res) {
    if (n > 0) return false;
    const_cast<httplib::Request&>(req).ranges.clear();
    res.status = 200;
    res.set_content(R"({"error":{"code":200,"message":"not your bytes"}})", "application/json");
    return true;
  });
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  FailureLog events;
  MemoryAccount account;
  ConcurrentFetcherOptions options;
  options.initial_backoff = kMillisecond;
  ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport, Object(), options, &account);
  std::optional<Result<Slices>> got;
  fetcher.Read({0, 200'000}, [&](Result<Slices>&& r) { got = std::move(r); });
  scheduler.RunFor(20 * kSecond);
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  REQUIRE(TotalLength(**got) == 200'000);
  CheckBytes((**got)[0].data(), 0, 200'000);  // byte 0 is the object's, not '{'
  REQUIRE(events.failures.size() == 1);
  CHECK(events.retries == 1);
  CHECK(events.failures[0].http_status == 200);
  CHECK(events.failures[0].attempts == 1);
  CHECK(events.failures[0].retryable);
  CHECK(events.failures[0].message.find("refused the HTTP 200 response") != std::string::npos);
  CHECK(server.requests().size() == 2);
}

TEST_CASE("http transport: a kept-alive connection the server closed is replaced before the request goes out",
          "[engine][http]") {
  ScriptedServer server;
  server.set_keep_alive_timeout(1);  // the server closes a connection idle for a second
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(1));
  REQUIRE(FetchOnce(transport, scheduler, {0, 1000}).status.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  // Not a failure (nothing was sent on the dead connection) and not a resend (one request).
  const FetchOutcome o = FetchOnce(transport, scheduler, {1000, 2000});
  REQUIRE(o.status.ok());
  CHECK(transport.requests() == 2);
  CHECK(server.requests().size() == 2);
  CHECK(transport.connections() == 2);
}

// The simulator charges connection setup to a request only when more are in flight than ever before
// (the connections a LIFO pool has warmed), so the real pool must open no more than that.
TEST_CASE("http transport: requests one after another share one connection - concurrent ones open one each",
          "[engine][http]") {
  // From the 25th request on, in rounds of four: each answer waits until its round's four requests have
  // arrived, so the four are in flight at once however slowly the client issues them (a fetch that
  // completed before the next was issued would leave its worker idle for it: one connection fewer).
  std::atomic<int> arrived[2] = {0, 0};
  ScriptedServer server([&](int n, const httplib::Request&, httplib::Response&) {
    if (n < 24) return false;
    std::atomic<int>& round = arrived[(n - 24) / 4 % 2];
    ++round;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (round.load() < 4 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;  // then answered as usual
  });
  server.set_keep_alive_max_count(1000);
  AsioScheduler scheduler;
  HttpTransport transport(&scheduler, server.endpoint(), Connections(16));
  for (std::uint64_t i = 0; i < 24; ++i)
    REQUIRE(FetchOnce(transport, scheduler, {i * 1000, i * 1000 + 1000}).status.ok());
  CHECK(transport.connections() == 1);
  auto ports = [&] {
    std::set<int> distinct;
    for (const auto& r : server.requests()) distinct.insert(r.remote_port);
    return distinct.size();
  };
  CHECK(ports() == 1);

  // Four at once: the warm connection and three new ones; four at once again: no new one.
  MemoryAccount account;
  for (int round = 0; round < 2; ++round) {
    int completed = 0;
    std::vector<ChunkRef> chunks;
    for (std::uint64_t i = 0; i < 4; ++i) {
      chunks.push_back(Chunk::Make(100'000, true, &account));
      transport.Fetch(Object(), {i * 100'000, (i + 1) * 100'000}, {chunks.back(), 0}, [&](const FetchOutcome& o) {
        CHECK(o.status.ok());
        ++completed;
      });
    }
    scheduler.RunFor(20 * kSecond);
    REQUIRE(completed == 4);
    CHECK(arrived[round].load() == 4);
    for (std::uint64_t i = 0; i < 4; ++i) CheckBytes(chunks[i]->data(), i * 100'000, 100'000);
    CHECK(transport.connections() == 4);
    CHECK(ports() == 4);
  }
  CHECK(transport.requests() == 32);
}

// The pool's connection count over https, where httplib opens connections inside its Get.
TEST_CASE("http transport: over https, requests one after another share one connection", "[http]") {
  const testing::TestPki pki(testing::FreshTempDir("pflab_https_pool"));
  testing::HttpsObjectServer server(pki, {{"b/o", {1 << 20, 1}}}, [] { return std::set<std::string>{"tok"}; });
  AsioScheduler scheduler;
  MemoryAccount account;
  HttpTransportOptions options;
  options.connections = 16;
  options.ca_file = pki.server_cert;
  options.credentials = MakeTokenCredentials("tok", "a test");
  HttpTransport transport(&scheduler, server.endpoint(), options);
  // Three: httplib's server closes a kept-alive connection after five requests.
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto chunk = Chunk::Make(1000, true, &account);
    std::optional<FetchOutcome> got;
    transport.Fetch(ObjectRef{"b", "o", 1, 1 << 20}, {i * 1000, i * 1000 + 1000}, {chunk, 0},
                    [&](const FetchOutcome& o) { got = o; });
    scheduler.RunFor(20 * kSecond);
    REQUIRE(got.has_value());
    REQUIRE(got->status.ok());
    CHECK(MatchingSyntheticPrefix(ObjectSeed("b", "o", 1), i * 1000, chunk->data(), 1000) == 1000);
  }
  CHECK(transport.requests() == 3);
  CHECK(transport.connections() == 1);
}

}  // namespace
}  // namespace pflab
