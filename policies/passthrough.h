// The two policies that only forward reads: `none` (fsspec's BaseCache) and `gcsfs-concurrent`
// (GCSFile with no cache and no prefetcher, whose reads the fetcher splits).
#pragma once

#include <cstdint>

#include "engine/concurrent_fetcher.h"
#include "policies/policy_entry.h"
#include "policies/policy_layer.h"

namespace pflab::policies {

/// `none`: every read goes straight to the layer below (fsspec BaseCache).
class NonePolicy final : public PolicyLayer {
 public:
  using PolicyLayer::PolicyLayer;
  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override { lower_->Cancel(id); }
  const char* name() const override { return "none"; }

 private:
  ReadCallback pending_done_;  // one read at a time; kept here so the lower callback stays inline
};

/// Parameters of gcsfs-concurrent: the split a GCSFile without cache or prefetcher asks of the fetcher.
struct GcsfsConcurrentOptions {
  std::uint32_t concurrency = 4;  // DEFAULT_CONCURRENCY since gcsfs#992 (1 in v795)
  SplitRule rule = SplitRule::kMain;
  bool operator==(const GcsfsConcurrentOptions&) const = default;
};

/// `gcsfs-concurrent`: GCSFile with no cache and no prefetcher, as in fsspec/gcsfs PR #795
/// (`_cat_file_concurrent`): every read is one `_cat_file` call that the fetcher below splits into
/// concurrent parts by the v795 rule (exactly `concurrency` parts from 5 MiB up) or main's
/// (`concurrency.split_range`, gcsfs#926: min(concurrency, size / 5 MiB) parts).
class GcsfsConcurrent final : public PolicyLayer {
 public:
  GcsfsConcurrent(LayerContext ctx, Source* lower, std::uint32_t concurrency)
      : PolicyLayer(ctx, lower), concurrency_(concurrency) {}
  ReadId Read(ByteRange range, ReadCallback done) override;
  void Cancel(ReadId id) override { lower_->Cancel(id); }
  const char* name() const override { return "gcsfs-concurrent"; }

 private:
  std::uint32_t concurrency_;
  ReadCallback pending_done_;
};

/// The `none` entry.
PolicyEntry NoneEntry();
/// The `gcsfs-concurrent` entry.
PolicyEntry GcsfsConcurrentEntry();

}  // namespace pflab::policies
