// Fuzzes the fake GCS server's request handling (fake_gcs/server.h) end to end: the input is written
// as raw bytes to a loopback connection of a server running in this process (its objects put back
// before every input), and every response that comes back is parsed with Beast's own response parser
// and checked:
// - it is well-formed HTTP/1.1 with the server's headers and a Content-Length that matches its body;
// - no 5xx unless a fault was injected (the Retry Test API can be driven from the input);
// - JSON bodies parse; a 416 names the object size;
// - a media body (200 or 206) is exactly the object's bytes at the range Content-Range names, and
//   that range lies within the object.
// The request log must count one response per request unless the connection was reset. One server
// serves every input (a server per input was seen, rarely, to leave a connection in its accept queue
// unanswered; see docs/testing.md). Buckets an input creates stay, retry tests are deleted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/synthetic_content.h"
#include "fake_gcs/object_store.h"
#include "fake_gcs/server.h"
#include "fuzz/fuzz_check.h"

namespace {

namespace http = boost::beast::http;
using pflab::fake_gcs::ObjectPtr;
using pflab::fake_gcs::ObjectStore;

// The server listens on an address of 127/8 of this process's own, and every connection comes from a
// fresh one (Linux routes all of 127/8 to the loopback interface): the client half-closes first, so
// every connection ends in TIME_WAIT, and fresh addresses never repeat a 4-tuple within TIME_WAIT's
// minute; no other program's stray connection to a port of 127.0.0.1 can reach the server either.
std::string ServerHost() {
  return "127." + std::to_string(128 + ::getpid() % 100) + "." + std::to_string(::getpid() / 100 % 250) + ".1";
}

std::uint32_t ClientAddress() {
  static std::uint32_t n = 0;
  ++n;
  return (127u << 24) | ((1 + n / 62500 % 100) << 16) | ((n / 250 % 250) << 8) | (1 + n % 250);
}

// Puts the objects every input starts from back (deleting whatever the last input uploaded) and drops
// the last input's retry tests.
void Reset(ObjectStore& store, pflab::fake_gcs::RetryTests& retry_tests) {
  for (const auto& bucket : store.Buckets()) {
    auto objects = store.List(bucket, "");
    FUZZ_REQUIRE(objects.ok(), "cannot list " + bucket);
    for (const auto& o : *objects) FUZZ_REQUIRE(store.Delete(bucket, o->name).ok(), "cannot delete " + o->name);
  }
  const nlohmann::json tests = retry_tests.List();
  for (const auto& test : tests["retry_test"]) (void)retry_tests.Delete(test.value("id", ""));
  std::string pattern(3000, '\0');
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>('a' + i * 7 % 26);
  FUZZ_REQUIRE(store.PutMemory("bkt", "small.txt", "hello, fake gcs\n", "text/plain").ok(), "put");
  FUZZ_REQUIRE(store.PutMemory("bkt", "dir/a b.bin", pattern).ok(), "put");
  FUZZ_REQUIRE(store.PutMemory("bkt", "dir/sub/c", "c").ok(), "put");
  FUZZ_REQUIRE(store.PutMemory("bkt", "empty", "").ok(), "put");
  FUZZ_REQUIRE(store.PutSynthetic("bkt", "big.bin", 1 << 20, 1000000000000000).ok(), "put");
  store.CreateBucket("other");
}

pflab::fake_gcs::FakeGcsServer& Server() {
  static pflab::fake_gcs::FakeGcsServer* server = [] {
    pflab::fake_gcs::ServerOptions options;
    options.host = ServerHost();
    options.threads = 1;
    options.keep_request_log = true;
    auto* s = new pflab::fake_gcs::FakeGcsServer(options);  // lives as long as the process
    FUZZ_REQUIRE(s->Start().ok(), "the fake server did not start on " + options.host);
    return s;
  }();
  return *server;
}

// The lines of /proc/net/tcp for this socket's port and the server's (states, queued bytes, the
// listener's backlog), and each thread's state and wait channel, for a hang's report.
std::string SocketState(int fd, int server_port) {
  sockaddr_in local{};
  socklen_t length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  char port[8], other[8];
  std::snprintf(port, sizeof port, ":%04X ", ntohs(local.sin_port));
  std::snprintf(other, sizeof other, ":%04X ", server_port);
  std::ifstream tcp("/proc/net/tcp");
  std::string line, out;
  while (std::getline(tcp, line)) {
    if (line.find(port) != std::string::npos || line.find(other) != std::string::npos) out += line + "\n";
  }
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream stat(task.path() / "stat"), wchan(task.path() / "wchan");
    std::string s, w;
    std::getline(stat, s);
    std::getline(wchan, w);
    out += "thread " + s.substr(0, 60) + " wchan " + w + "\n";
  }
  return out;
}

// What a descriptor refers to ("socket:[INODE]"), to tell whether it is still the one we opened.
std::string FdTarget(int fd) {
  char target[256] = {};
  const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "(closed)";
}

// Sends `request`, half-closes, and reads until the server closes. Returns whether the read ended
// cleanly (not reset: a server that closes with unread input resets the connection, and the tail of
// its output may then be lost).
bool Exchange(const pflab::fake_gcs::FakeGcsServer& server, std::string_view request, std::string& response) {
  const int port = server.port();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_REQUIRE(fd >= 0, "socket()");
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl(ClientAddress());
  FUZZ_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0, "bind() the client");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  FUZZ_REQUIRE(::inet_pton(AF_INET, ServerHost().c_str(), &addr.sin_addr) == 1, "bad address");
  FUZZ_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "connect() to the fake server");
  const std::string opened = FdTarget(fd);
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (Connection: close, a malformed request)
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  bool clean = true;
  char buffer[64 << 10];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    // Nothing the input can ask for takes this long without a fault; a stall here is a hang.
    if (::poll(&p, 1, 20000) != 1) {
      const auto stats = server.stats();
      FUZZ_REQUIRE(
          false, "the server sent nothing for 20 s after " + std::to_string(response.size()) + " bytes (connections " +
                     std::to_string(stats.connections) + ", requests " + std::to_string(stats.requests) + ", logged " +
                     std::to_string(server.request_log().size()) + "); fd " + std::to_string(fd) + " was " + opened +
                     ", is " + FdTarget(fd) + "\n" + SocketState(fd, port) + response.substr(0, 2000));
    }
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) {
      clean = false;
      break;
    }
    response.append(buffer, static_cast<std::size_t>(n));
  }
  linger no_linger{1, 0};  // close with RST: no TIME_WAIT per input
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
  ::close(fd);
  return clean;
}

std::optional<std::uint64_t> Number(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// The live objects with this generation (generations are unique in a store but for explicit ones).
std::vector<ObjectPtr> ByGeneration(ObjectStore& store, std::int64_t generation) {
  std::vector<ObjectPtr> out;
  for (const auto& bucket : store.Buckets()) {
    auto objects = store.List(bucket, "");
    if (!objects) continue;
    for (const auto& o : *objects) {
      if (o->generation == generation) out.push_back(o);
    }
  }
  return out;
}

void CheckMedia(ObjectStore& store, const http::response<http::string_body>& res, const std::string& context) {
  auto generation = Number(std::string(res["x-goog-generation"]));
  FUZZ_REQUIRE(generation, "media response without x-goog-generation\n" + context);
  const auto candidates = ByGeneration(store, static_cast<std::int64_t>(*generation));
  if (candidates.size() != 1) return;  // overwritten or deleted later in the same connection
  const auto& object = *candidates.front();
  FUZZ_REQUIRE(res["x-goog-stored-content-length"] == std::to_string(object.size),
               "x-goog-stored-content-length is not the object's size\n" + context);
  std::uint64_t begin = 0, end = object.size;
  if (res.result_int() == 206) {
    const std::string range(res[http::field::content_range]);
    const auto dash = range.find('-'), slash = range.find('/');
    FUZZ_REQUIRE(
        range.rfind("bytes ", 0) == 0 && dash != std::string::npos && slash != std::string::npos && dash < slash,
        "bad Content-Range '" + range + "'\n" + context);
    auto a = Number(std::string_view(range).substr(6, dash - 6));
    auto b = Number(std::string_view(range).substr(dash + 1, slash - dash - 1));
    auto total = Number(std::string_view(range).substr(slash + 1));
    FUZZ_REQUIRE(a && b && total && *a <= *b && *b < object.size && *total == object.size,
                 "Content-Range '" + range + "' is not within the object of " + std::to_string(object.size) +
                     " bytes\n" + context);
    begin = *a;
    end = *b + 1;
  }
  if (res.body().empty() && end > begin) return;  // HEAD
  FUZZ_REQUIRE(res.body().size() == end - begin, "body size is not the range's\n" + context);
  std::string expected(end - begin, '\0');
  FUZZ_REQUIRE(store.Read(object, begin, expected.data(), end - begin).ok(), "the store cannot read the range");
  FUZZ_REQUIRE(res.body() == expected, "the body is not the object's bytes at [" + std::to_string(begin) + ", " +
                                           std::to_string(end) + ")\n" + context);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  if (size > 8192) return 0;
  const std::string_view input = fuzz::AsText(data, size);
  // A Retry Test stall pauses the server for as long as it says, which the input may make minutes.
  if (input.find("stall-for") != std::string_view::npos) return 0;
  auto& server = Server();
  Reset(server.store(), server.retry_tests());
  const std::size_t logged_before = server.request_log().size();
  const std::uint64_t requests_before = server.stats().requests;
  std::string wire;
  const bool clean = Exchange(server, input, wire);
  // Requests are counted before their reply goes out and logged after it; wait for the last log entry.
  std::vector<fake_gcs::RequestRecord> log;
  for (int i = 0; i < 2000; ++i) {
    log = server.request_log();
    if (log.size() - logged_before == server.stats().requests - requests_before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(logged_before));
  auto& store = server.store();

  std::size_t at = 0, answered = 0;
  while (at < wire.size()) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64 << 20);
    // The reply to a HEAD has headers only; the log says which request each reply answers.
    if (answered < log.size() && log[answered].method == "HEAD") parser.skip(true);
    boost::beast::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(wire.data() + at, wire.size() - at), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    const std::string context = wire.substr(at, 600);
    if (ec || !parser.is_done()) {
      // The last reply may be cut short only by a reset connection or a body fault.
      const bool fault = answered < log.size() && !log[answered].fault.empty();
      FUZZ_REQUIRE(!clean || fault, "a response does not parse (" + ec.message() + ")\n" + context);
      return 0;
    }
    at += used;
    const auto& res = parser.get();
    if (res.result_int() == 100) continue;  // the interim answer to Expect: 100-continue
    FUZZ_REQUIRE(answered < log.size(), "more responses than logged requests\n" + context);
    const auto& record = log[answered++];
    FUZZ_REQUIRE(static_cast<int>(res.result_int()) == record.status, "the log has another status\n" + context);
    FUZZ_REQUIRE(res[http::field::server] == "pflab-fake-gcs", "no Server header\n" + context);
    FUZZ_REQUIRE(res.result_int() < 500 || !record.fault.empty(), "a 5xx without a fault\n" + context);
    if (res.result_int() != 204 && res.result_int() != 304) {
      auto length = Number(std::string(res[http::field::content_length]));
      FUZZ_REQUIRE(length, "no Content-Length\n" + context);
      FUZZ_REQUIRE(record.method == "HEAD" || *length == res.body().size(),
                   "Content-Length is not the body's\n" + context);
    }
    const std::string type(res[http::field::content_type]);
    if (type.rfind("application/json", 0) == 0 && !res.body().empty()) {
      FUZZ_REQUIRE(!nlohmann::json::parse(res.body(), nullptr, false).is_discarded(),
                   "a JSON body does not parse\n" + context);
    }
    if (res.result_int() == 416) {
      FUZZ_REQUIRE(res[http::field::content_range].starts_with("bytes */"), "416 without bytes */SIZE\n" + context);
    }
    const bool media = res.find("x-goog-stored-content-length") != res.end();
    if (media && (res.result_int() == 200 || res.result_int() == 206) && record.fault.empty()) {
      CheckMedia(store, res, context);
    }
  }
  if (clean) {
    FUZZ_REQUIRE(answered == log.size(),
                 std::to_string(log.size()) + " requests logged, " + std::to_string(answered) + " answered");
  }
  return 0;
}
