#include "net/handshake_timer.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <optional>

namespace pflab {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

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
    // As the plain HTTP connection does: the stream's own timer bounds every operation on it, the TLS
    // handshake's reads and writes included, and fails the one that runs past it with a timeout.
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::nanoseconds(timeout));
    // Runs one asynchronous step, which `begin` starts with a completion handler, to its end.
    auto step = [&](const std::string& what, auto&& begin) -> Status {
      boost::system::error_code result;
      begin([&](const boost::system::error_code& e) { result = e; });
      io.restart();
      io.run();
      const std::string name = "connection setup to " + where + ": " + what + " " + std::to_string(i + 1);
      if (result == beast::error::timeout) return Unavailable(name + " timed out");
      if (result) return Unavailable(name + ": " + result.message());
      return OkStatus();
    };
    auto connected = step("connection", [&](auto handler) {
      stream.async_connect(addresses,
                           [handler](const boost::system::error_code& e, const tcp::endpoint&) { handler(e); });
    });
    if (!connected) return connected.error();
    if (tls) {
      asio::ssl::stream<beast::tcp_stream&> secure(stream, *context);
      // SNI for a name (not for an address, RFC 6066), and the certificate must name the host, as the
      // HTTPS transport checks it.
      boost::system::error_code not_an_address;
      asio::ip::make_address(endpoint.host, not_an_address);
      if (not_an_address) SSL_set_tlsext_host_name(secure.native_handle(), endpoint.host.c_str());
      secure.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
      auto handshaken =
          step("TLS handshake", [&](auto handler) { secure.async_handshake(asio::ssl::stream_base::client, handler); });
      if (!handshaken) return handshaken.error();
    }
    took.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    stream.close();
  }
  return took;
}

}  // namespace pflab
