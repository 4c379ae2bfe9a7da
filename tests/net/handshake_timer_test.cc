// TimeHandshakes: connection setup timed with no request sent, over plain TCP and over TLS with the
// peer verified, and its failures named.
#include "net/handshake_timer.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "engine/units.h"
#include "tests/support/auth_fakes.h"
#include "tests/support/cli_runner.h"

namespace pflab {
namespace {

TEST_CASE("handshake timer: TLS handshakes are timed, no request sent - an untrusted peer fails", "[http][calibrate]") {
  const testing::TestPki pki(testing::FreshTempDir("pflab_handshake_timer"));
  testing::HttpsObjectServer server(pki, {{"b/o", {1000, 1}}}, [] { return std::set<std::string>{}; });
  auto took = TimeHandshakes(server.endpoint(), 3, 10 * kSecond, pki.server_cert);
  REQUIRE(took.ok());
  REQUIRE(took->size() == 3);
  for (Nanos t : *took) {
    CHECK(t > 0);
    CHECK(t < 10 * kSecond);
  }
  CHECK(server.requests() == 0);
  // The system's certificates do not trust the test's: the handshake fails, and says so.
  auto untrusted = TimeHandshakes(server.endpoint(), 1, 10 * kSecond);
  REQUIRE_FALSE(untrusted.ok());
  CHECK_THAT(untrusted.error().message, Catch::Contains("TLS handshake 1"));
  CHECK_THAT(untrusted.error().message, Catch::Contains(server.url()));
}

TEST_CASE("handshake timer: plain TCP connects are timed - a silent peer times out - a closed port fails",
          "[http][calibrate]") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor listening(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const int port = listening.local_endpoint().port();
  // The kernel completes the handshakes into the listen backlog: nothing needs to accept them.
  auto took = TimeHandshakes(HttpEndpoint{"http", "127.0.0.1", port}, 4, 10 * kSecond);
  REQUIRE(took.ok());
  CHECK(took->size() == 4);
  // Over https the same listener never answers the TLS client hello: the handshake runs out of time.
  auto silent = TimeHandshakes(HttpEndpoint{"https", "127.0.0.1", port}, 1, 200 * kMillisecond);
  REQUIRE_FALSE(silent.ok());
  CHECK(silent.error().message ==
        "connection setup to https://127.0.0.1:" + std::to_string(port) + ": TLS handshake 1 timed out");
  listening.close();
  auto refused = TimeHandshakes(HttpEndpoint{"http", "127.0.0.1", port}, 1, 10 * kSecond);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().retryable);
  CHECK_THAT(refused.error().message,
             Catch::StartsWith("connection setup to http://127.0.0.1:" + std::to_string(port) + ": connection 1: "));
}

}  // namespace
}  // namespace pflab
