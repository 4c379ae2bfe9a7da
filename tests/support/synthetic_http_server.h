// A minimal HTTP server for engine tests: serves synthetic objects at the GCS JSON API media URL, with
// httplib applying Range, and their metadata (size and generation) without alt=media. Not the fake GCS server
// (fake_gcs/): just enough to drive HttpTransport.
#pragma once

#include <httplib.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "engine/synthetic_content.h"
#include "net/http_transport.h"

namespace pflab::testing {

/// Answers with `size` bytes of the synthetic content of `seed` (httplib applies Range), in pieces of
/// at most 64 KiB, and the object's generation header.
inline void ServeSynthetic(httplib::Response& res, std::uint64_t seed, std::uint64_t size, std::int64_t generation) {
  res.set_header("x-goog-generation", std::to_string(generation));
  res.set_content_provider(size, "application/octet-stream",
                           [seed](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                             const std::size_t n = std::min<std::size_t>(length, 1 << 16);
                             std::string buf(n, '\0');
                             FillSynthetic(seed, offset, reinterpret_cast<std::byte*>(buf.data()), n);
                             sink.write(buf.data(), n);
                             return true;
                           });
}

class SyntheticHttpServer {
 public:
  struct Object {
    std::uint64_t size;
    std::int64_t generation;
  };

  explicit SyntheticHttpServer(std::map<std::string, Object> objects) : objects_(std::move(objects)) {
    server_.Get(R"(/storage/v1/b/([^/]+)/o/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string bucket = req.matches[1];
      const std::string name = req.matches[2];
      auto it = objects_.find(bucket + "/" + name);
      if (it == objects_.end()) {
        res.status = 404;
        res.set_content(R"({"error":{"code":404,"message":"No such object"}})", "application/json");
        return;
      }
      const Object object = it->second;
      if (req.get_param_value("alt") != "media") {  // the JSON API's metadata, which live runs read first
        res.set_content(R"({"bucket":")" + bucket + R"(","name":")" + name + R"(","size":")" +
                            std::to_string(object.size) + R"(","generation":")" + std::to_string(object.generation) +
                            "\"}",
                        "application/json");
        return;
      }
      const std::uint64_t seed = ObjectSeed(bucket, name, object.generation);
      ServeSynthetic(res, seed, object.size, object.generation);
    });
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~SyntheticHttpServer() {
    server_.stop();
    thread_.join();
  }
  SyntheticHttpServer(const SyntheticHttpServer&) = delete;
  SyntheticHttpServer& operator=(const SyntheticHttpServer&) = delete;

  HttpEndpoint endpoint() const { return HttpEndpoint{"http", "127.0.0.1", port_}; }

 private:
  std::map<std::string, Object> objects_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace pflab::testing
