// One persistent plain-HTTP/1.1 client connection on Boost.Beast, for HttpTransport's workers when the
// endpoint is http:// (the fake server, emulators). cpp-httplib 0.11, which the https path uses, reads
// bodies 4 KiB per recv with a select() before each, which held loopback reads to a fifth of curl's
// rate; here a body arrives in 1 MiB reads straight off the socket.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/scheduler.h"

namespace pflab {

/// Status and headers of a response; header names compare case-insensitively.
struct ResponseHead {
  struct Less {
    bool operator()(const std::string& a, const std::string& b) const;
  };
  int status = 0;
  std::multimap<std::string, std::string, Less> headers;

  bool Has(const std::string& name) const { return headers.count(name) > 0; }
  /// The first value, or "".
  std::string Get(const std::string& name) const;
  /// Every value of a repeated header, joined with ", ".
  std::string Joined(const std::string& name) const;
};

/// A keep-alive HTTP/1.1 connection to one host; reconnects as needed (an idle connection the server
/// closed is replaced before a request goes out), but never sends a request twice: a failure after the
/// request went out is returned. Used by one thread at a time; Stop() may be called from any thread and
/// makes a blocked Get return.
class PlainHttpConnection {
 public:
  PlainHttpConnection(std::string host, int port, Nanos connect_timeout, Nanos read_timeout);
  ~PlainHttpConnection();
  PlainHttpConnection(const PlainHttpConnection&) = delete;
  PlainHttpConnection& operator=(const PlainHttpConnection&) = delete;

  /// Sends `GET target`; calls `on_head` once with the response head, then `on_body` with each piece of
  /// the body. Either returning false abandons the response (and the connection). Returns "" when the
  /// exchange completed, else what went wrong on the wire (connect, timeout, reset, body cut short).
  /// With `direct` set, a 206 whose Content-Length is exactly `direct_size` is received straight into
  /// `direct` (no copy), reporting each piece's length to `on_direct` instead of calling `on_body`.
  std::string Get(const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::function<bool(const ResponseHead&)>& on_head,
                  const std::function<bool(const char*, std::size_t)>& on_body, char* direct = nullptr,
                  std::size_t direct_size = 0, const std::function<bool(std::size_t)>& on_direct = nullptr);
  void Stop();
  /// Whether a connection is open (kept alive after a complete exchange); the next Get connects if not.
  bool connected() const;
  /// Connections opened so far (a kept-alive one reused is not counted again).
  std::uint64_t connects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pflab
