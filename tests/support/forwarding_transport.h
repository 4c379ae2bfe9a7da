// A test decorator that hands every call to the transport below unchanged; tests derive from it and
// override only the call they bend (a shifted range, a hop a decorator above cannot see through).
#pragma once

#include <utility>

#include "engine/transport.h"

namespace pflab::testing {

/// Forwards every Transport call to `inner`.
class ForwardingTransport : public Transport {
 public:
  explicit ForwardingTransport(Transport* inner) : inner_(inner) {}
  FetchId Fetch(const ObjectRef& object, ByteRange range, FetchTarget target, FetchCallback done) override {
    return inner_->Fetch(object, range, std::move(target), std::move(done));
  }
  void Cancel(FetchId id) override { inner_->Cancel(id); }
  StreamId OpenStream(const ObjectRef& object, ByteRange range) override { return inner_->OpenStream(object, range); }
  void ReadStream(StreamId id, std::uint64_t length, FetchTarget target, FetchCallback done) override {
    inner_->ReadStream(id, length, std::move(target), std::move(done));
  }
  void CloseStream(StreamId id, StreamClosedCallback closed) override { inner_->CloseStream(id, std::move(closed)); }
  bool wants_payload() const override { return inner_->wants_payload(); }

 protected:
  Transport* inner() const { return inner_; }

 private:
  Transport* inner_;
};

}  // namespace pflab::testing
