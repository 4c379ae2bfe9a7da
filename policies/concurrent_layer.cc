#include "policies/concurrent_layer.h"

#include <memory>

namespace pflab::policies {

ConcurrentFetcherOptions PlainFetcherOptions() {
  ConcurrentFetcherOptions options;
  options.parts = 1;
  return options;
}

PolicyEntry ConcurrentEntry() {
  return EntryBuilder<ConcurrentFetcherOptions>(
             "concurrent", "gcsfs _cat_file_concurrent (v795) and concurrency.split_range (gcsfs#926)",
             "bottom layer: splits a request into parts fetched concurrently into one buffer; retries with backoff")
      .Defaults(PlainFetcherOptions)
      .Place(Placement::kBottom)
      .Uint("parts", &ConcurrentFetcherOptions::parts, "maximum parts per request", Between(1, 1024))
      .Note("(or the gcsfs layer's concurrency)")
      .Size("min", &ConcurrentFetcherOptions::min_part_bytes,
            "no split below this size (MIN_CHUNK_SIZE_FOR_CONCURRENCY)")
      .Choice("rule", &ConcurrentFetcherOptions::rule, {{"v795", SplitRule::kV795}, {"main", SplitRule::kMain}},
              "v795: exactly `parts` equal parts; main: min(parts, size/min)")
      .Note("(v795 under gcsfs-v795)")
      .Build([](const StackEnv& env, Source*, const ConcurrentFetcherOptions& o) -> std::unique_ptr<Source> {
        ConcurrentFetcherOptions options = o;
        options.seed = env.seed;
        return std::make_unique<ConcurrentFetcher>(env.ctx, env.transport, env.object, options, env.account);
      })
      .Done();
}

}  // namespace pflab::policies
