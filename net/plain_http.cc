#include "net/plain_http.h"

#include <poll.h>
#include <strings.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>

namespace pflab {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool ResponseHead::Less::operator()(const std::string& a, const std::string& b) const {
  return ::strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string ResponseHead::Get(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string ResponseHead::Joined(const std::string& name) const {
  std::string out;
  auto [b, e] = headers.equal_range(name);
  for (auto it = b; it != e; ++it) out += (out.empty() ? "" : ", ") + it->second;
  return out;
}

struct PlainHttpConnection::Impl {
  std::string host;
  std::string port;
  std::chrono::nanoseconds connect_timeout;
  std::chrono::nanoseconds read_timeout;
  asio::io_context context;
  beast::tcp_stream stream{context};
  beast::flat_buffer buffer;
  bool connected = false;
  std::uint64_t connects = 0;
  std::vector<char> body_buffer = std::vector<char>(1 << 20);

  // Runs one asynchronous operation to completion on this thread.
  template <typename Start>
  beast::error_code RunOne(Start start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, std::size_t = 0) { result = ec; });
    context.restart();
    context.run();
    if (result == asio::error::would_block) result = asio::error::operation_aborted;  // stopped
    return result;
  }

  void Drop() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.clear();
    connected = false;
  }

  // Whether a kept-alive connection is still usable: nothing to read on it (no close, no reset, no
  // stray bytes) and nothing buffered. A poll with no timeout, as cpp-httplib does before reusing one.
  bool Idle() {
    if (buffer.size() > 0) return false;
    pollfd p{stream.socket().native_handle(), POLLIN, 0};
    const int n = ::poll(&p, 1, 0);
    return n == 0;
  }

  beast::error_code Connect() {
    tcp::resolver resolver(context);
    beast::error_code ec;
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return ec;
    stream.expires_after(connect_timeout);
    ec = RunOne([&](auto handler) {
      stream.async_connect(endpoints, [handler](beast::error_code e, const tcp::endpoint&) mutable { handler(e); });
    });
    if (ec) return ec;
    stream.socket().set_option(tcp::no_delay(true), ec);
    connected = true;
    ++connects;
    return {};
  }
};

PlainHttpConnection::PlainHttpConnection(std::string host, int port, Nanos connect_timeout, Nanos read_timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = std::to_string(port);
  impl_->connect_timeout = std::chrono::nanoseconds(connect_timeout);
  impl_->read_timeout = std::chrono::nanoseconds(read_timeout);
}

PlainHttpConnection::~PlainHttpConnection() = default;

void PlainHttpConnection::Stop() {
  asio::post(impl_->context, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->stream.socket().close(ignored);
  });
  impl_->context.stop();
}

bool PlainHttpConnection::connected() const {
  return impl_->connected;
}

std::uint64_t PlainHttpConnection::connects() const {
  return impl_->connects;
}

std::string PlainHttpConnection::Get(const std::string& target,
                                     const std::vector<std::pair<std::string, std::string>>& headers,
                                     const std::function<bool(const ResponseHead&)>& on_head,
                                     const std::function<bool(const char*, std::size_t)>& on_body, char* direct,
                                     std::size_t direct_size, const std::function<bool(std::size_t)>& on_direct) {
  Impl& c = *impl_;
  // A kept-alive connection the server has closed meanwhile is noticed before the request goes out
  // (it reads as closed, or has bytes nobody asked for) and replaced. Once a request is sent, a failure
  // is reported, never resent here: every resend must be a retry the layer above counts.
  if (c.connected && !c.Idle()) c.Drop();
  if (!c.connected) {
    if (auto ec = c.Connect(); ec) {
      c.Drop();
      return "connect to " + c.host + ":" + c.port + ": " + ec.message();
    }
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, c.host + ":" + c.port);
  req.set(http::field::user_agent, "pflab");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.keep_alive(true);
  c.stream.expires_after(c.read_timeout);
  auto ec = c.RunOne([&](auto handler) {
    http::async_write(c.stream, req, [handler](beast::error_code e, std::size_t n) mutable { handler(e, n); });
  });
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (!ec) {
    c.stream.expires_after(c.read_timeout);
    ec = c.RunOne([&](auto handler) {
      http::async_read_header(c.stream, c.buffer, parser,
                              [handler](beast::error_code e, std::size_t n) mutable { handler(e, n); });
    });
  }
  if (ec) {
    c.Drop();
    if (ec == beast::error::timeout) return "no response within the read timeout";
    return "no response: " + ec.message();
  }
  ResponseHead head;
  head.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    head.headers.emplace(std::string(field.name_string()), std::string(field.value()));
  }
  const bool keep_alive = parser.get().keep_alive();
  if (!on_head(head)) {
    c.Drop();
    return "";
  }
  // With a Content-Length (all GCS media responses), the body is read straight off the socket in
  // large pieces: into `direct` when it is the expected 206, else through `body_buffer` to on_body.
  // The parser, which reads 64 KiB at most and copies, handles the rest (chunked bodies).
  if (const auto length = parser.content_length(); length && !parser.get().chunked() && !parser.is_done()) {
    const bool into_direct = direct != nullptr && on_direct && head.status == 206 && *length == direct_size;
    std::uint64_t remaining = *length;
    std::size_t filled = 0;  // bytes written into `direct`
    // Hands `n` bytes at `data` over; false when the caller abandons the response.
    auto deliver = [&](const char* data, std::size_t n) {
      if (!into_direct) return on_body(data, n);
      if (data != direct + filled) std::memcpy(direct + filled, data, n);
      filled += n;
      return on_direct(n);
    };
    const std::size_t buffered = static_cast<std::size_t>(std::min<std::uint64_t>(c.buffer.size(), remaining));
    if (buffered > 0) {
      const bool more = deliver(static_cast<const char*>(c.buffer.data().data()), buffered);
      c.buffer.consume(buffered);
      remaining -= buffered;
      if (!more) {
        c.Drop();
        return "";
      }
    }
    while (remaining > 0) {
      char* dest = into_direct ? direct + filled : c.body_buffer.data();
      const std::size_t room = into_direct ? std::size_t{8} << 20 : c.body_buffer.size();
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(room, remaining));
      std::size_t got = 0;
      c.stream.expires_after(c.read_timeout);
      ec = c.RunOne([&](auto handler) {
        c.stream.async_read_some(asio::buffer(dest, want), [handler, &got](beast::error_code e, std::size_t n) mutable {
          got = n;
          handler(e, n);
        });
      });
      if (got > 0 && !deliver(dest, got)) {
        c.Drop();
        return "";
      }
      remaining -= got;
      if (ec) {
        c.Drop();
        if (ec == beast::error::timeout) return "the body stalled past the read timeout";
        return "the connection closed before the body was complete (" + ec.message() + ")";
      }
    }
    if (!keep_alive) c.Drop();
    return "";
  }
  while (!parser.is_done()) {
    parser.get().body().data = c.body_buffer.data();
    parser.get().body().size = c.body_buffer.size();
    c.stream.expires_after(c.read_timeout);
    ec = c.RunOne([&](auto handler) {
      http::async_read_some(c.stream, c.buffer, parser,
                            [handler](beast::error_code e, std::size_t n) mutable { handler(e, n); });
    });
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = c.body_buffer.size() - parser.get().body().size;
    if (got > 0 && !on_body(c.body_buffer.data(), got)) {
      c.Drop();
      return "";
    }
    if (ec) {
      c.Drop();
      if (ec == beast::error::timeout) return "the body stalled past the read timeout";
      if (ec == http::error::partial_message || ec == asio::error::eof || ec == http::error::end_of_stream) {
        return "the connection closed before the body was complete";
      }
      return ec.message();
    }
  }
  if (!keep_alive) c.Drop();
  return "";
}

}  // namespace pflab
