#include "policies/registry.h"

#include <cctype>
#include <utility>
#include <variant>

#include "engine/units.h"
#include "policies/arrow_coalesce.h"
#include "policies/fsspec_all.h"
#include "policies/fsspec_background.h"
#include "policies/fsspec_blockcache.h"
#include "policies/fsspec_bytes.h"
#include "policies/fsspec_first.h"
#include "policies/fsspec_mmap.h"
#include "policies/fsspec_parts.h"
#include "policies/fsspec_readahead.h"
#include "policies/gcsfs_prefetcher.h"
#include "policies/gcsfuse_buffered.h"
#include "policies/gcsfuse_reader.h"
#include "policies/linux_readahead.h"
#include "policies/mountpoint_prefetcher.h"
#include "policies/oracle.h"
#include "policies/params.h"
#include "policies/passthrough.h"

namespace pflab::policies {
namespace {

std::string Trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Splits on `sep` outside parentheses.
Result<std::vector<std::string>> SplitTopLevel(std::string_view text, char sep) {
  std::vector<std::string> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')' && --depth < 0) return InvalidArgument("unbalanced ')' in '" + std::string(text) + "'");
    if (text[i] == sep && depth == 0) {
      out.push_back(Trim(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (depth != 0) return InvalidArgument("unbalanced '(' in '" + std::string(text) + "'");
  out.push_back(Trim(text.substr(start)));
  return out;
}

Result<LayerSpec> ParseLayer(const std::string& text) {
  LayerSpec layer;
  const auto open = text.find('(');
  layer.name = Trim(text.substr(0, open));
  if (layer.name.empty()) return InvalidArgument("empty policy name in '" + text + "'");
  if (open == std::string::npos) return layer;
  if (text.back() != ')') return InvalidArgument("expected ')' at the end of '" + text + "'");
  const std::string inner = text.substr(open + 1, text.size() - open - 2);
  if (Trim(inner).empty()) return layer;
  auto items = SplitTopLevel(inner, ',');
  if (!items) return items.error();
  for (const auto& item : *items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("parameter '" + item + "' of " + layer.name + " is not key=value");
    }
    std::string key = Trim(item.substr(0, eq));
    if (layer.params.count(key)) return InvalidArgument("parameter " + key + " of " + layer.name + " given twice");
    layer.params[key] = Trim(item.substr(eq + 1));
  }
  return layer;
}

// Distinct types for layers whose options alone would not tell them apart.
struct BackgroundLayerOptions {
  BlockCacheOptions blocks;
};
struct AllBytesLayerOptions {};

// gcsfs-concurrent: the split a GCSFile without cache or prefetcher asks of the fetcher.
struct GcsfsConcurrentOptions {
  std::uint32_t concurrency = 4;
  SplitRule rule = SplitRule::kMain;
};

using LayerOptions =
    std::variant<std::monostate, ReadAheadOptions, BlockCacheOptions, BackgroundLayerOptions, MMapOptions, BytesOptions,
                 FirstChunkOptions, AllBytesLayerOptions, PartsOptions, GcsfsPrefetcherOptions, LinuxReadaheadOptions,
                 GcsfsConcurrentOptions, OracleOptions, MountpointOptions, GcsfuseReaderOptions, ArrowCoalesceOptions,
                 ConcurrentFetcherOptions, GcsfuseBufferedOptions>;

Result<GcsfsConcurrentOptions> ParseGcsfsConcurrentOptions(Params& params) {
  GcsfsConcurrentOptions options;
  auto concurrency = params.TakeUint("concurrency", options.concurrency);
  if (!concurrency) return concurrency.error();
  if (*concurrency == 0 || *concurrency > 1024)
    return InvalidArgument("policy gcsfs-concurrent: concurrency must be 1..1024");
  options.concurrency = static_cast<std::uint32_t>(*concurrency);
  auto rule = params.TakeChoice("rule", {"v795", "main"}, "main");
  if (!rule) return rule.error();
  options.rule = *rule == "v795" ? SplitRule::kV795 : SplitRule::kMain;
  if (auto status = params.Finish(); !status) return status.error();
  return options;
}

Result<ConcurrentFetcherOptions> ParseConcurrentOptions(Params& params) {
  ConcurrentFetcherOptions options;
  options.parts = 1;
  auto parts = params.TakeUint("parts", options.parts);
  if (!parts) return parts.error();
  if (*parts == 0 || *parts > 1024) return InvalidArgument("policy concurrent: parts must be 1..1024");
  options.parts = static_cast<std::uint32_t>(*parts);
  auto min = params.TakeSize("min", options.min_part_bytes);
  if (!min) return min.error();
  options.min_part_bytes = *min;
  auto rule = params.TakeChoice("rule", {"v795", "main"}, "main");
  if (!rule) return rule.error();
  options.rule = *rule == "v795" ? SplitRule::kV795 : SplitRule::kMain;
  if (auto status = params.Finish(); !status) return status.error();
  return options;
}

Result<LayerOptions> ParseLayerOptions(const LayerSpec& layer) {
  Params params(layer.name, layer.params);
  auto wrap = [](auto result) -> Result<LayerOptions> {
    if (!result) return result.error();
    return LayerOptions(std::move(*result));
  };
  if (layer.name == "none") {
    if (auto status = params.Finish(); !status) return status.error();
    return LayerOptions(std::monostate{});
  }
  if (layer.name == "fsspec-readahead") return wrap(ParseReadAheadOptions(params));
  if (layer.name == "fsspec-blockcache") return wrap(ParseBlockCacheOptions(layer.name, params));
  if (layer.name == "fsspec-background") {
    auto blocks = ParseBlockCacheOptions(layer.name, params);
    if (!blocks) return blocks.error();
    return LayerOptions(BackgroundLayerOptions{*blocks});
  }
  if (layer.name == "fsspec-mmap") return wrap(ParseMMapOptions(params));
  if (layer.name == "fsspec-bytes") return wrap(ParseBytesOptions(params));
  if (layer.name == "fsspec-first") return wrap(ParseFirstChunkOptions(params));
  if (layer.name == "fsspec-all") {
    if (auto status = params.Finish(); !status) return status.error();
    return LayerOptions(AllBytesLayerOptions{});
  }
  if (layer.name == "fsspec-parts") return wrap(ParsePartsOptions(params));
  if (layer.name == "gcsfs-v795") return wrap(ParseGcsfsPrefetcherOptions(GcsfsVariant::kV795, params));
  if (layer.name == "gcsfs-adaptive") return wrap(ParseGcsfsPrefetcherOptions(GcsfsVariant::kMain, params));
  if (layer.name == "linux-readahead") return wrap(ParseLinuxReadaheadOptions(params));
  if (layer.name == "oracle") return wrap(ParseOracleOptions(params));
  if (layer.name == "gcsfs-concurrent") return wrap(ParseGcsfsConcurrentOptions(params));
  if (layer.name == "mountpoint-s3") return wrap(ParseMountpointOptions(params));
  if (layer.name == "gcsfuse") return wrap(ParseGcsfuseReaderOptions(params));
  if (layer.name == "gcsfuse-buffered") return wrap(ParseGcsfuseBufferedOptions(params));
  if (layer.name == "arrow-coalesce") return wrap(ParseArrowCoalesceOptions(params));
  if (layer.name == "concurrent") return wrap(ParseConcurrentOptions(params));
  std::string names;
  for (const auto& p : RegisteredPolicies()) names += (names.empty() ? "" : ", ") + p.name;
  return InvalidArgument("unknown policy '" + layer.name + "' (known: " + names + "; see `pflab policies`)");
}

// Parses every layer and decides the bottom fetcher's options.
Result<std::vector<LayerOptions>> ParseAll(const StackSpec& spec) {
  std::vector<LayerOptions> all;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    auto options = ParseLayerOptions(spec.layers[i]);
    if (!options) return options.error();
    if (std::holds_alternative<ConcurrentFetcherOptions>(*options) && i + 1 != spec.layers.size()) {
      return InvalidArgument("in '" + spec.text + "': concurrent is the bottom layer and must come last");
    }
    all.push_back(std::move(*options));
  }
  if (all.empty() || !std::holds_alternative<ConcurrentFetcherOptions>(all.back())) {
    ConcurrentFetcherOptions bottom;
    bottom.parts = 1;
    for (const auto& o : all) {
      if (const auto* g = std::get_if<GcsfsPrefetcherOptions>(&o)) {
        bottom.parts = std::max<std::uint32_t>(1, g->concurrency);
        bottom.rule = g->variant == GcsfsVariant::kV795 ? SplitRule::kV795 : SplitRule::kMain;
      }
      if (const auto* c = std::get_if<GcsfsConcurrentOptions>(&o)) {
        bottom.parts = c->concurrency;
        bottom.rule = c->rule;
      }
    }
    all.push_back(bottom);
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    // It knows the application's reads, so nothing may stand between them, and it keeps several
    // requests in flight.
    if (std::holds_alternative<OracleOptions>(all[i]) && (i != 0 || all.size() != 2)) {
      return InvalidArgument("in '" + spec.text + "': oracle stands alone (only concurrent may follow it)");
    }
  }
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    // These keep several requests in flight, which only the fetcher accepts.
    const char* several = std::holds_alternative<LinuxReadaheadOptions>(all[i])    ? "linux-readahead"
                          : std::holds_alternative<BackgroundLayerOptions>(all[i]) ? "fsspec-background"
                          : std::holds_alternative<MountpointOptions>(all[i])      ? "mountpoint-s3"
                          : std::holds_alternative<ArrowCoalesceOptions>(all[i])   ? "arrow-coalesce"
                          : std::holds_alternative<GcsfuseBufferedOptions>(all[i]) ? "gcsfuse-buffered"
                                                                                   : nullptr;
    if (several && !std::holds_alternative<ConcurrentFetcherOptions>(all[i + 1])) {
      return InvalidArgument("in '" + spec.text + "': " + several +
                             " must sit directly on the fetcher (last, or just above concurrent)");
    }
  }
  return all;
}

}  // namespace

Result<StackSpec> ParseStackSpec(std::string_view text) {
  StackSpec spec;
  spec.text = Trim(text);
  if (spec.text.empty()) return InvalidArgument("empty policy spec");
  auto parts = SplitTopLevel(spec.text, '>');
  if (!parts) return parts.error();
  for (const auto& part : *parts) {
    auto layer = ParseLayer(part);
    if (!layer) return InvalidArgument("in policy spec '" + spec.text + "': " + layer.error().message);
    spec.layers.push_back(std::move(*layer));
  }
  return spec;
}

Result<std::vector<StackSpec>> ParsePolicyList(std::string_view text) {
  auto items = SplitTopLevel(text, ',');
  if (!items) return items.error();
  std::vector<StackSpec> out;
  for (const auto& item : *items) {
    auto spec = ParseStackSpec(item);
    if (!spec) return spec.error();
    if (auto status = ValidateStack(*spec); !status) return status.error();
    out.push_back(std::move(*spec));
  }
  return out;
}

const std::vector<PolicyInfo>& RegisteredPolicies() {
  static const std::vector<PolicyInfo> kPolicies = {
      {"none", "fsspec BaseCache (fsspec/caching.py)", "every read goes straight to the backend", {}},
      {"fsspec-readahead",
       "fsspec ReadAheadCache (fsspec/caching.py, master 669de5e1 = 2022.11.0 logic)",
       "one window; a miss fetches [start, end + blocksize)",
       {{"blocksize", "5MiB", "read-ahead beyond each read (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)"}}},
      {"fsspec-blockcache",
       "fsspec BlockCache (fsspec/caching.py, master 669de5e1; key 'block' in 2022.11)",
       "blocks s//bs..(e-1)//bs, one request per missing block, LRU of maxblocks blocks",
       {{"blocksize", "5MiB", "block size (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)"},
        {"maxblocks", "32", "blocks kept (functools.lru_cache size)"}}},
      {"fsspec-mmap",
       "fsspec MMapCache (fsspec/caching.py, master 669de5e1)",
       "blocks s//bs..e//bs, each run of missing blocks one request, nothing evicted",
       {{"blocksize", "5MiB", "block size (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)"}}},
      {"fsspec-bytes",
       "fsspec BytesCache, trim=True (fsspec/caching.py, master 669de5e1 = 2022.11.0 logic)",
       "one buffer extended forward or backward by up to blocksize, refetched beyond that, trimmed",
       {{"blocksize", "5MiB", "read-ahead beyond each read (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)"}}},
      {"fsspec-first",
       "fsspec FirstChunkCache (fsspec/caching.py, master 669de5e1)",
       "keeps the first block; every other read goes to the backend",
       {{"blocksize", "5MiB", "size of the kept first block, capped at the file size"}}},
      {"fsspec-all",
       "fsspec AllBytes (fsspec/caching.py, master 669de5e1 = 2022.11.0 logic)",
       "one request for the whole file (on the first read; fsspec does it on open), then memory",
       {}},
      {"fsspec-parts",
       "fsspec KnownPartsOfAFile, strict=False (fsspec/caching.py, master 669de5e1)",
       "serves reads from known parts (fetched once, standing for the caller's up-front fetch), gaps zero-filled, "
       "reads starting outside the parts fail",
       {{"parts", "(none)", "known byte ranges START-END separated by ';', e.g. 0-1MiB;5MiB-6MiB"}}},
      {"fsspec-background",
       "fsspec BackgroundBlockCache (fsspec/caching.py, master 669de5e1; not in 2022.11)",
       "blocks s//bs..e//bs through an LRU, then block e//bs+1 fetched in the background (one at a time); must "
       "sit on the fetcher",
       {{"blocksize", "5MiB", "block size (AbstractBufferedFile.DEFAULT_BLOCK_SIZE)"},
        {"maxblocks", "32", "blocks kept (UpdatableLRU size)"}}},
      {"gcsfs-v795",
       "gcsfs BackgroundPrefetcher as merged from PR #795 (fsspec/gcsfs@5596df92, gcsfs/prefetcher.py)",
       GcsfsPrefetcherDescription(GcsfsVariant::kV795),
       {{"concurrency", "1", "parts per request while ramping (DEFAULT_CONCURRENCY in v795)"},
        {"max", "256MiB", "max_prefetch_size (GCSFile MAX_PREFETCH_SIZE)"},
        {"streak", "2", "sequential streak that starts prefetching"},
        {"min_chunk", "5MiB", "MIN_CHUNK_SIZE of prefetch requests"}}},
      {"gcsfs-adaptive",
       "gcsfs main 2026.8+ prefetcher (fsspec/gcsfs@20c58d0d), adopted by fsspec as cache 'adaptive'",
       GcsfsPrefetcherDescription(GcsfsVariant::kMain),
       {{"concurrency", "4", "parts per request (DEFAULT_CONCURRENCY since gcsfs#992)"},
        {"max", "256MiB", "max_prefetch_size"},
        {"streak", "3", "MIN_STREAKS_FOR_PREFETCHING"},
        {"min_chunk", "5MiB", "MIN_CHUNK_SIZE of prefetch requests"}}},
      {"linux-readahead",
       "Linux on-demand readahead, mm/readahead.c ondemand_readahead (6.x before the 6.10 split), over the page "
       "cache, with FUSE's request split",
       "initial window 2-4x the read, x4/x2 ramp to read_ahead, async window at the PG_readahead marker, context "
       "readahead, small random reads read as is",
       {{"read_ahead", "128KiB", "read_ahead_kb (VM_READAHEAD_PAGES)"},
        {"io", "128KiB", "bdi io_pages: a read larger than read_ahead may use up to this (FUSE max_pages)"},
        {"fuse_max", "128KiB", "largest request to the layer below (FUSE max_pages x 4KiB); 0: one per run"},
        {"cache", "1GiB", "page cache for the file; least recently used pages are evicted beyond it"}}},
      {"mountpoint-s3",
       "Mountpoint for Amazon S3 prefetcher (awslabs/mountpoint-s3@58817cab, mountpoint-s3-fs/src/prefetch.rs and "
       "prefetch/*.rs) with the CRT's part GETs",
       "cursor per sequential run: 1.125 MiB GET, then [off+1.125 MiB, EOF) in 8 MiB parts inside a read window "
       "that doubles on each queue stall up to 2 GiB; seeks 16 MiB forward / 1 MiB back, else reset; must sit on "
       "the fetcher",
       {{"initial", "1152KiB", "INITIAL_REQUEST_SIZE (1 MiB + 128 KiB); 0 skips the first GET"},
        {"part_size", "8MiB", "--read-part-size: CRT part GETs, window alignment and minimum window"},
        {"max_window", "2GiB", "max_read_window_size (UNSTABLE_MOUNTPOINT_MAX_PREFETCH_WINDOW_SIZE)"},
        {"multiplier", "2", "sequential_prefetch_multiplier (at least 2)"},
        {"forward_seek", "16MiB", "max_forward_seek_wait_distance beyond the data already arrived"},
        {"backward_seek", "1MiB", "max_backward_seek_distance (bytes kept behind the cursor)"},
        {"max_parts", "100", "CRT part GETs in flight (4 x 25 connections at 10 Gbps)"}}},
      {"gcsfuse",
       "gcsfuse default read path (GoogleCloudPlatform/gcsfuse@7b392927): read_type_classifier.go, "
       "client_readers/range_reader.go",
       "seek-counting classifier; one stream per handle: sequential opens sequential_read_size, random bytes per "
       "seek in whole MiB within [min_read_size, max_read_size]; reused when a read continues it (gaps < "
       "max_read_size skipped); reads cut into fuse_max pieces",
       {{"sequential_read_size", "200MiB", "sequential-read-size-mb"},
        {"max_read_size", "8MiB", "maxReadSize: random/sequential threshold per seek, seek tolerance, skip limit"},
        {"min_read_size", "1MiB", "minReadSize: smallest random stream"},
        {"fuse_max", "1MiB", "largest FUSE READ (MaxPages from fuse-max-write-size-kb)"}}},
      {"gcsfuse-buffered",
       "gcsfuse buffered reader, --enable-buffered-read (GoogleCloudPlatform/gcsfuse@7b392927): "
       "internal/bufferedread/buffered_reader.go, download_task.go; falls back to `gcsfuse`",
       "queue of block_size blocks, one GET each, in parallel: urgent block + start_blocks, the prefetch count "
       "doubling at each block boundary up to max_blocks; an offset outside the queue drops it; after more than "
       "random_seek_threshold such seeks reads go to the gcsfuse default reader until the classifier says "
       "sequential; must sit on the fetcher",
       {{"block_size", "16MiB", "read-block-size-mb"},
        {"max_blocks", "20", "read-max-blocks-per-handle: queue length and prefetch count cap"},
        {"start_blocks", "1", "read-start-blocks-per-handle: blocks prefetched after the urgent one"},
        {"min_blocks", "4", "read-min-blocks-per-handle: reserved at open, else no buffered reader"},
        {"global_max_blocks", "40", "read-global-max-blocks (mount-wide; modelled as this handle's)"},
        {"random_seek_threshold", "3", "read-random-seek-threshold: seeks before falling back"},
        {"workers", "44", "worker pool: min(3 x NumCPU, ceil(1.1 x read-global-max-blocks)) downloads"},
        {"sequential_read_size", "200MiB", "fallback gcsfuse: sequential-read-size-mb"},
        {"max_read_size", "8MiB", "fallback gcsfuse and classifier: maxReadSize"},
        {"min_read_size", "1MiB", "fallback gcsfuse: minReadSize"},
        {"fuse_max", "1MiB", "largest FUSE READ (MaxPages from fuse-max-write-size-kb)"}}},
      {"gcsfs-concurrent",
       "gcsfs GCSFile without cache or prefetcher: _cat_file_concurrent (PR #795, 5596df92) / split_range (#926)",
       "every read one request, split into concurrent parts by the fetcher (v795: exactly `concurrency` parts from "
       "5 MiB; main: min(concurrency, size/5MiB))",
       {{"concurrency", "4", "parts per read (DEFAULT_CONCURRENCY since gcsfs#992; 1 in v795, 4 recommended)"},
        {"rule", "main", "split rule: v795 or main"}}},
      {"arrow-coalesce",
       "Apache Arrow ReadRangeCache (apache/arrow@515410b2, cpp/src/arrow/io/caching.cc, interfaces.cc "
       "CoalesceReadRanges) as Parquet's pre_buffer uses it (cpp/src/parquet/file_reader.cc)",
       "a trace hint's ranges coalesced (holes <= hole_size_limit merged, merged span <= range_size_limit, never "
       "split) into entries fetched on hint (lazy=false) or on first read; reads inside an entry served from it, "
       "kept until the end; other reads go below, coalesced with reads outstanding at the same instant; must sit "
       "on the fetcher",
       {{"hole_size_limit", "8KiB", "ReadRangeCache::kDefaultHoleSizeLimit"},
        {"range_size_limit", "32MiB", "ReadRangeCache::kDefaultRangeSizeLimit"},
        {"lazy", "true",
         "CacheOptions::LazyDefaults() as Parquet's ArrowReaderProperties and IPC use (Defaults(): "
         "false)"},
        {"prefetch_limit", "0", "lazy only: entries started after the one a read needed"}}},
      {"oracle",
       "ours: the best clairvoyant plan we know (policies/oracle.h, policies/oracle_planner.h)",
       "knows the stream's future reads, their think times and the network profile's distributions; plans offline "
       "which bytes to fetch in which requests (whole spans, parts, or per read; holes bridged up to a gap from the "
       "bandwidth-delay product), streamed in pieces that end where reads end, kept until their last read, under its "
       "memory budget, choosing the plan whose modelled time is best over latency scenarios of its own; stands alone "
       "over the fetcher",
       {{"memory", "auto",
         "held plus in-flight bytes, a hard budget; auto: max(comparison's largest peak, min(object, 4GiB))"},
        {"request", "auto", "region size: bytes, whole or parts (forces the planner's choice)"},
        {"gap", "auto", "holes up to this are fetched: bytes or all (forces the planner's choice)"},
        {"concurrency", "auto", "regions in flight (forces the planner's choice)"}}},
      {"concurrent",
       "gcsfs _cat_file_concurrent (v795) and concurrency.split_range (gcsfs#926)",
       "bottom layer: splits a request into parts fetched concurrently into one buffer; retries with backoff",
       {{"parts", "1 (or the gcsfs layer's concurrency)", "maximum parts per request"},
        {"min", "5MiB", "no split below this size (MIN_CHUNK_SIZE_FOR_CONCURRENCY)"},
        {"rule", "main (v795 under gcsfs-v795)", "v795: exactly `parts` equal parts; main: min(parts, size/min)"}}},
  };
  return kPolicies;
}

PolicyStack::~PolicyStack() {
  for (auto& layer : layers_) layer.reset();
}

Status ValidateStack(const StackSpec& spec) {
  auto all = ParseAll(spec);
  if (!all) return all.error();
  return OkStatus();
}

Result<std::unique_ptr<PolicyStack>> BuildStack(const StackSpec& spec, const StackEnv& env) {
  auto all = ParseAll(spec);
  if (!all) return all.error();
  auto stack = std::make_unique<PolicyStack>();
  std::vector<std::unique_ptr<Source>> bottom_up;
  for (auto it = all->rbegin(); it != all->rend(); ++it) {
    Source* lower = bottom_up.empty() ? nullptr : bottom_up.back().get();
    std::unique_ptr<Source> layer;
    if (auto* c = std::get_if<ConcurrentFetcherOptions>(&*it)) {
      ConcurrentFetcherOptions options = *c;
      options.seed = env.seed;
      auto fetcher = std::make_unique<ConcurrentFetcher>(env.ctx, env.transport, env.object, options, env.account);
      stack->fetcher_ = fetcher.get();
      layer = std::move(fetcher);
    } else if (auto* r = std::get_if<ReadAheadOptions>(&*it)) {
      layer = std::make_unique<FsspecReadAhead>(env.ctx, lower, *r);
    } else if (auto* b = std::get_if<BlockCacheOptions>(&*it)) {
      layer = std::make_unique<FsspecBlockCache>(env.ctx, lower, *b);
    } else if (auto* bg = std::get_if<BackgroundLayerOptions>(&*it)) {
      layer = std::make_unique<FsspecBackground>(env.ctx, lower, bg->blocks);
    } else if (auto* m = std::get_if<MMapOptions>(&*it)) {
      layer = std::make_unique<FsspecMMap>(env.ctx, lower, *m);
    } else if (auto* y = std::get_if<BytesOptions>(&*it)) {
      layer = std::make_unique<FsspecBytes>(env.ctx, lower, *y);
    } else if (auto* f = std::get_if<FirstChunkOptions>(&*it)) {
      layer = std::make_unique<FsspecFirstChunk>(env.ctx, lower, *f);
    } else if (std::holds_alternative<AllBytesLayerOptions>(*it)) {
      layer = std::make_unique<FsspecAllBytes>(env.ctx, lower);
    } else if (auto* p = std::get_if<PartsOptions>(&*it)) {
      layer = std::make_unique<FsspecKnownParts>(env.ctx, lower, *p);
    } else if (auto* l = std::get_if<LinuxReadaheadOptions>(&*it)) {
      layer = std::make_unique<LinuxReadahead>(env.ctx, lower, *l);
    } else if (auto* gc = std::get_if<GcsfsConcurrentOptions>(&*it)) {
      layer = std::make_unique<GcsfsConcurrent>(env.ctx, lower, gc->concurrency);
    } else if (auto* ac = std::get_if<ArrowCoalesceOptions>(&*it)) {
      layer = std::make_unique<ArrowCoalesce>(env.ctx, lower, *ac);
    } else if (auto* o = std::get_if<OracleOptions>(&*it)) {
      layer =
          std::make_unique<Oracle>(env.ctx, lower, *o,
                                   OracleContext{env.future_reads, env.future_think_ns, env.network,
                                                 env.comparison_peak_memory_bytes, env.stacks_in_run > 1, env.account});
    } else if (auto* mp = std::get_if<MountpointOptions>(&*it)) {
      layer = std::make_unique<MountpointPrefetcher>(env.ctx, lower, *mp);
    } else if (auto* fu = std::get_if<GcsfuseReaderOptions>(&*it)) {
      layer = std::make_unique<GcsfuseReader>(env.ctx, lower, *fu);
    } else if (auto* fb = std::get_if<GcsfuseBufferedOptions>(&*it)) {
      layer = std::make_unique<GcsfuseBuffered>(env.ctx, lower, *fb);
    } else if (auto* g = std::get_if<GcsfsPrefetcherOptions>(&*it)) {
      layer = std::make_unique<GcsfsPrefetcher>(env.ctx, lower, *g);
    } else {
      layer = std::make_unique<NonePolicy>(env.ctx, lower);
    }
    bottom_up.push_back(std::move(layer));
  }
  for (auto it = bottom_up.rbegin(); it != bottom_up.rend(); ++it) stack->layers_.push_back(std::move(*it));
  return stack;
}

}  // namespace pflab::policies
