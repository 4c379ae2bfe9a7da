#include "traces/generators.h"

#include <algorithm>
#include <random>

#include "engine/units.h"
#include "traces/limits.h"
#include "traces/random_mix.h"

namespace pflab::traces {
namespace {

GeneratorParams Defaults(std::uint64_t object, std::uint64_t read, std::uint64_t count) {
  GeneratorParams p;
  p.object_size = object;
  p.read_size = read;
  p.count = count;
  p.seed = 1;
  p.streams = 4;
  p.stride = read;
  return p;
}

GeneratorParams Merge(const GeneratorParams& given, const GeneratorParams& defaults) {
  GeneratorParams p = defaults;
  if (given.object_size) p.object_size = given.object_size;
  if (given.read_size) p.read_size = given.read_size;
  if (given.count) p.count = given.count;
  if (given.seed) p.seed = given.seed;
  if (given.streams) p.streams = given.streams;
  p.stride = given.stride ? *given.stride : p.read_size;
  p.think_ns = given.think_ns;
  return p;
}

// The limits of traces/limits.h, checked before anything is generated.
Status CheckGeneratorParams(const GeneratorParams& p) {
  if (p.read_size == 0 || p.object_size == 0) return InvalidArgument("object and read sizes must be positive");
  if (auto s = CheckObjectSize(p.object_size); !s) return InvalidArgument("--object-size: " + s.error().message);
  if (p.read_size > kMaxObjectSize) return InvalidArgument("--read-size: above 2^50 bytes, the largest object size");
  if (*p.stride > kMaxObjectSize) return InvalidArgument("--stride: above 2^50 bytes, the largest object size");
  if (p.streams == 0) return InvalidArgument("--streams must be at least 1");
  if (p.streams > kMaxStreams) {
    return InvalidArgument("--streams: " + std::to_string(p.streams) + " is above the limit of 2^20 (" +
                           std::to_string(kMaxStreams) + ") streams per trace");
  }
  if (p.count > kMaxRecords) {
    return InvalidArgument("--count: " + std::to_string(p.count) + " is above the limit of " +
                           std::to_string(kMaxRecords) + " reads per trace");
  }
  if (p.think_ns < 0) return InvalidArgument("--think must not be negative");
  if (p.think_ns > kMaxTraceNanos) return InvalidArgument("--think: above 2^53 ns (about 104 days), the trace limit");
  return OkStatus();
}

// The trace being generated, and why generation stopped early, if a limit stopped it.
struct Gen {
  Trace& trace;
  const GeneratorParams& p;
  std::string stopped;
};

// Appends a read clamped to the object; returns false when it starts at or past EOF, or when the trace
// is full (a limit of traces/limits.h, recorded in g.stopped).
bool Add(Gen& g, std::uint32_t stream, std::uint64_t offset, std::uint64_t length) {
  Trace& trace = g.trace;
  const std::uint64_t size = trace.objects[0].size;
  if (offset >= size || !g.stopped.empty()) return false;
  length = std::min(length, size - offset);
  const std::uint64_t n = trace.records.size();
  if (n + trace.hints.size() >= kMaxRecords) {
    g.stopped = "more than " + std::to_string(kMaxRecords) + " reads, the limit per trace (give --count)";
    return false;
  }
  if (g.p.think_ns > 0 && n > static_cast<std::uint64_t>(kMaxTraceNanos / g.p.think_ns)) {
    g.stopped = "read " + std::to_string(n + 1) +
                " would be issued after 2^53 ns (about 104 days), the trace "
                "limit; lower --think or --count";
    return false;
  }
  const Nanos t = static_cast<Nanos>(n) * g.p.think_ns;
  trace.records.push_back(TraceRecord{t, stream, 0, offset, length, -1, 0});
  return true;
}

std::uint64_t Block(const GeneratorParams& p, std::uint64_t k) {
  return (k - 1) * p.read_size;
}

void Sequential(Gen& g) {
  const GeneratorParams& p = g.p;
  for (std::uint64_t k = 1; k <= p.count && Add(g, 0, Block(p, k), p.read_size); ++k) {
  }
}

void Random(Gen& g) {
  const GeneratorParams& p = g.p;
  const std::uint64_t blocks = std::max<std::uint64_t>(1, p.object_size / p.read_size);
  std::mt19937_64 rng(p.seed);
  std::uniform_int_distribution<std::uint64_t> pick(1, blocks);
  for (std::uint64_t i = 0; i < p.count && g.stopped.empty(); ++i) Add(g, 0, Block(p, pick(rng)), p.read_size);
}

void Backtrack(Gen& g) {
  const GeneratorParams& p = g.p;
  std::vector<std::uint64_t> blocks = {1};
  for (std::uint64_t b = 2; blocks.size() < p.count; b += 3) {
    for (std::uint64_t k : {b, b + 1, b + 2, b}) blocks.push_back(k);
  }
  blocks.resize(p.count);
  for (std::uint64_t k : blocks) {
    if (!Add(g, 0, Block(p, k), p.read_size)) break;
  }
}

void VisitsHome(Gen& g) {
  const GeneratorParams& p = g.p;
  Trace& t = g.trace;
  if (p.count == 0 || !Add(g, 0, 0, p.read_size)) return;
  for (std::uint64_t k = 2; t.records.size() < p.count; ++k) {
    if (!Add(g, 0, Block(p, k), p.read_size)) break;
    if (t.records.size() < p.count) Add(g, 0, 0, p.read_size);
  }
}

void Strided(Gen& g) {
  const GeneratorParams& p = g.p;
  for (std::uint64_t i = 0, offset = 0; i < p.count && Add(g, 0, offset, p.read_size); ++i) {
    offset += p.read_size + *p.stride;
  }
}

// Layout: [row group 0: column 0 .. column C-1][row group 1: ...]...[footer][8-byte tail]. The reads:
// tail, footer, then two seeded columns of each row group. With `hinted`, each row group's reads are
// preceded by a hint of its selected column chunks, as pyarrow's ParquetFile.read_row_group(i)
// pre-buffers them (FileReaderImpl::ReadRowGroups calls PreBuffer with that row group's chunks).
void ColumnarReads(Gen& g, bool hinted) {
  Trace& t = g.trace;
  const GeneratorParams& p = g.p;
  constexpr std::uint64_t kTail = 8;
  constexpr std::uint64_t kFooter = 64 << 10;
  constexpr std::uint64_t kRowGroups = 4;
  constexpr std::uint64_t kColumns = 8;
  const std::uint64_t size = t.objects[0].size;
  if (size < kTail + kFooter + kRowGroups * kColumns) return;
  const std::uint64_t chunk = (size - kTail - kFooter) / (kRowGroups * kColumns);
  // Without --count the reads are all the selected chunks': refuse at once what would pass the limit.
  const std::uint64_t reads = 2 + kRowGroups * 2 * ((chunk + p.read_size - 1) / p.read_size);
  if ((p.count == 0 || p.count > kMaxRecords) && reads > kMaxRecords) {
    g.stopped = std::to_string(reads) + " reads, more than " + std::to_string(kMaxRecords) +
                ", the limit per trace (give --count or a larger --read-size)";
    return;
  }
  auto limit_reached = [&] { return (p.count && t.records.size() >= p.count) || !g.stopped.empty(); };
  Add(g, 0, size - kTail, kTail);
  if (!limit_reached()) Add(g, 0, size - kTail - kFooter, kFooter);
  std::mt19937_64 rng(p.seed);
  std::vector<std::uint64_t> columns(kColumns);
  for (std::uint64_t c = 0; c < kColumns; ++c) columns[c] = c;
  std::shuffle(columns.begin(), columns.end(), rng);
  columns.resize(2);
  std::sort(columns.begin(), columns.end());
  for (std::uint64_t rg = 0; rg < kRowGroups; ++rg) {
    if (hinted) {
      if (limit_reached()) return;
      TraceHint hint{static_cast<Nanos>(t.records.size()) * p.think_ns, 0, 0, {}, t.records.size()};
      for (std::uint64_t c : columns)
        hint.ranges.push_back({(rg * kColumns + c) * chunk, (rg * kColumns + c + 1) * chunk});
      t.hints.push_back(std::move(hint));
    }
    for (std::uint64_t c : columns) {
      const std::uint64_t begin = (rg * kColumns + c) * chunk;
      for (std::uint64_t at = begin; at < begin + chunk; at += p.read_size) {
        if (limit_reached()) return;
        Add(g, 0, at, std::min(p.read_size, begin + chunk - at));
      }
    }
  }
}

void FooterThenColumns(Gen& g) {
  ColumnarReads(g, false);
}
void ParquetHinted(Gen& g) {
  ColumnarReads(g, true);
}

void MultiStream(Gen& g) {
  Trace& t = g.trace;
  const GeneratorParams& p = g.p;
  const std::uint64_t region = t.objects[0].size / p.streams;
  std::vector<std::uint64_t> next(p.streams);
  for (std::uint32_t s = 0; s < p.streams; ++s) next[s] = s * region;
  for (std::uint64_t i = 0; i < p.count; ++i) {
    const std::uint32_t s = static_cast<std::uint32_t>(i % p.streams);
    const std::uint64_t end = (s + 1 == p.streams) ? t.objects[0].size : (s + 1) * region;
    if (next[s] >= end) break;
    if (!Add(g, s, next[s], std::min(p.read_size, end - next[s]))) break;
    next[s] += p.read_size;
  }
}

using GenerateFn = void (*)(Gen&);

struct Entry {
  PatternInfo info;
  GenerateFn fn;
};

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> kEntries = {
      {{"sequential", "blocks 1, 2, 3, ... from the start", Defaults(256 * kMiB, kMiB, 256)}, Sequential},
      {{"random", "block-aligned uniformly random offsets", Defaults(1024 * kMiB, kMiB, 256)}, Random},
      {{"backtrack", "1, 2,3,4,2, 5,6,7,5, ...: three new blocks, then back to the first of them",
        Defaults(256 * kMiB, kMiB, 256)},
       Backtrack},
      {{"visits-home", "1, 2,1, 3,1, 4,1, ...: back to block 1 between forward jumps", Defaults(256 * kMiB, kMiB, 256)},
       VisitsHome},
      {{"strided", "one block, skip `stride` bytes, repeat", Defaults(512 * kMiB, kMiB, 256)}, Strided},
      {{"footer-then-columns",
        "Parquet-like: 8-byte tail, 64 KiB footer, then 2 of 8 columns of each of 4 row groups, read sequentially",
        Defaults(256 * kMiB, kMiB, 0)},
       FooterThenColumns},
      {{"parquet-hinted",
        "footer-then-columns with a hint of each row group's 2 column chunks before reading them (Parquet pre_buffer)",
        Defaults(256 * kMiB, kMiB, 0)},
       ParquetHinted},
      {{"multi-stream", "`streams` interleaved sequential readers over consecutive regions",
        Defaults(256 * kMiB, kMiB, 256)},
       MultiStream},
      // Built by RandomMix from the parameters as given (see MixOptions), not from merged defaults.
      {{"mix",
        "random mix of the patterns above over 1-3 objects of 1 KiB-1 TiB, 1-4 streams, reads of 1 B-64 MiB, "
        "think times, some hints (traces/random_mix.h); --object-size fixes the object size, --read-size caps "
        "reads, --think caps think times",
        GeneratorParams{}},
       nullptr},
  };
  return kEntries;
}

// `pflab gen mix`: each parameter given replaces what RandomMix would draw.
RandomMixOptions MixOptions(const GeneratorParams& given) {
  RandomMixOptions o;
  if (given.seed) o.seed = given.seed;
  o.reads = given.count;
  o.streams = given.streams;
  if (given.object_size) o.min_object_size = o.max_object_size = given.object_size;
  if (given.read_size) o.max_read_size = given.read_size;
  if (given.think_ns) o.max_think_ns = given.think_ns;
  return o;
}

}  // namespace

const std::vector<PatternInfo>& Patterns() {
  static const std::vector<PatternInfo> kPatterns = [] {
    std::vector<PatternInfo> out;
    for (const auto& e : Entries()) out.push_back(e.info);
    return out;
  }();
  return kPatterns;
}

Result<Trace> Generate(const std::string& pattern, const GeneratorParams& given) {
  const Entry* entry = nullptr;
  for (const auto& e : Entries()) {
    if (e.info.name == pattern) entry = &e;
  }
  if (!entry) {
    std::string names;
    for (const auto& e : Entries()) names += (names.empty() ? "" : ", ") + e.info.name;
    return InvalidArgument("unknown pattern '" + pattern + "' (known: " + names + ")");
  }
  if (!entry->fn) return RandomMix(MixOptions(given));
  const GeneratorParams p = Merge(given, entry->info.defaults);
  if (auto s = CheckGeneratorParams(p); !s) return s.error();
  Trace trace;
  trace.name = pattern;
  trace.objects.push_back({"o0", "pflab", pattern + ".bin", p.object_size});
  trace.source = {
      {"generator", pattern}, {"object_size", p.object_size}, {"read_size", p.read_size}, {"count", p.count},
      {"seed", p.seed},       {"streams", p.streams},         {"stride", *p.stride},      {"think_ns", p.think_ns}};
  Gen gen{trace, p, {}};
  entry->fn(gen);
  if (!gen.stopped.empty()) return InvalidArgument("pattern " + pattern + ": " + gen.stopped);
  if (trace.records.empty()) return InvalidArgument("pattern " + pattern + " produced no reads with these parameters");
  return trace;
}

}  // namespace pflab::traces
