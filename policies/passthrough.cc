#include "policies/passthrough.h"

#include <memory>
#include <utility>

namespace pflab::policies {

PolicyEntry NoneEntry() {
  return EntryBuilder<NoOptions>("none", "fsspec BaseCache (fsspec/caching.py)",
                                 "every read goes straight to the backend")
      .Build([](const StackEnv& env, Source* lower, const NoOptions&) -> std::unique_ptr<Source> {
        return std::make_unique<NonePolicy>(env.ctx, lower);
      })
      .Done();
}

PolicyEntry GcsfsConcurrentEntry() {
  using O = GcsfsConcurrentOptions;
  return EntryBuilder<O>(
             "gcsfs-concurrent",
             "gcsfs GCSFile without cache or prefetcher: _cat_file_concurrent (PR #795, 5596df92) / split_range (#926)",
             "every read one request, split into concurrent parts by the fetcher (v795: exactly `concurrency` parts "
             "from 5 MiB; main: min(concurrency, size/5MiB))")
      .Uint("concurrency", &O::concurrency,
            "parts per read (DEFAULT_CONCURRENCY since gcsfs#992; 1 in v795, 4 recommended)", Between(1, 1024))
      .Choice("rule", &O::rule, {{"v795", SplitRule::kV795}, {"main", SplitRule::kMain}}, "split rule: v795 or main")
      .SetsFetcher([](const O& o, ConcurrentFetcherOptions& fetcher) {
        fetcher.parts = o.concurrency;
        fetcher.rule = o.rule;
      })
      .Build([](const StackEnv& env, Source* lower, const O& o) -> std::unique_ptr<Source> {
        return std::make_unique<GcsfsConcurrent>(env.ctx, lower, o.concurrency);
      })
      .Done();
}

ReadId NonePolicy::Read(ByteRange range, ReadCallback done) {
  pending_done_ = std::move(done);
  return FetchBelow(range, 0, [this](Result<Slices>&& result) {
    ReadCallback done = std::move(pending_done_);
    done(std::move(result));
  });
}

ReadId GcsfsConcurrent::Read(ByteRange range, ReadCallback done) {
  pending_done_ = std::move(done);
  return FetchBelow(range, concurrency_, [this](Result<Slices>&& result) {
    ReadCallback done = std::move(pending_done_);
    done(std::move(result));
  });
}

}  // namespace pflab::policies
