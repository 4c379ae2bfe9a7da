#include "net/handshake_timer.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <optional>

namespace pflab {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Runs `io` until `done` or the deadline; false on timeout (the socket is closed so that the pending
// operation ends, and run to its end, before returning).
bool RunUntil(asio::io_context& io, const bool& done, std::chrono::steady_clock::time_point deadline,
              tcp::socket& socket) {
  io.restart();
  while (!done && std::chrono::steady_clock::now() < deadline) {
    if (io.run_one_until(deadline) == 0) break;
  }
  if (done) return true;
  boost::system::error_code ignored;
  socket.close(ignored);
  io.restart();
  io.run();
  return false;
}

}  // namespace

Result<std::vector<Nanos>> TimeHandshakes(const HttpEndpoint& endpoint, std::uint32_t count, Nanos timeout,
                                          const std::string& ca_file) {
  const std::string where = endpoint.Url();
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
  if (ec) return Unavailable("connection setup to " + where + ": resolving " + endpoint.host + ": " + ec.message());
  const bool tls = endpoint.scheme == "https";
  std::optional<asio::ssl::context> context;
  if (tls) {
    context.emplace(asio::ssl::context::tls_client);
    if (ca_file.empty()) {
      context->set_default_verify_paths(ec);
    } else {
      context->load_verify_file(ca_file, ec);
    }
    if (ec) return InvalidArgument("connection setup to " + where + ": certificates: " + ec.message());
    context->set_verify_mode(asio::ssl::verify_peer);
  }
  std::vector<Nanos> took;
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::nanoseconds(timeout);
    tcp::socket socket(io);
    // Runs one asynchronous step, which `begin` starts with a completion handler, to its end.
    auto step = [&](const std::string& what, auto&& begin) -> Status {
      bool done = false;
      boost::system::error_code result;
      begin([&](const boost::system::error_code& e) {
        result = e;
        done = true;
      });
      const std::string name = "connection setup to " + where + ": " + what + " " + std::to_string(i + 1);
      if (!RunUntil(io, done, deadline, socket)) return Unavailable(name + " timed out");
      if (result) return Unavailable(name + ": " + result.message());
      return OkStatus();
    };
    auto connected = step("connection", [&](auto handler) {
      asio::async_connect(socket, addresses,
                          [handler](const boost::system::error_code& e, const tcp::endpoint&) { handler(e); });
    });
    if (!connected) return connected.error();
    if (tls) {
      asio::ssl::stream<tcp::socket&> stream(socket, *context);
      // SNI for a name (not for an address, RFC 6066), and the certificate must name the host, as the
      // HTTPS transport checks it.
      boost::system::error_code not_an_address;
      asio::ip::make_address(endpoint.host, not_an_address);
      if (not_an_address) SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str());
      stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
      auto handshaken =
          step("TLS handshake", [&](auto handler) { stream.async_handshake(asio::ssl::stream_base::client, handler); });
      if (!handshaken) return handshaken.error();
    }
    took.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    socket.close(ec);
  }
  return took;
}

}  // namespace pflab
