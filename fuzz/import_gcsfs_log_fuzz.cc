// Fuzzes the gcsfs/fsspec log importer (traces/import_gcsfs_log.h) for both kinds of lines. An
// imported trace must be valid and round-trip through the trace format; an error must name the input.
#include <sstream>

#include "fuzz/fuzz_check.h"
#include "fuzz/trace_checks.h"
#include "traces/import_gcsfs_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  const std::string text(fuzz::AsText(data, size));
  for (auto kind : {traces::GcsfsLogKind::kGets, traces::GcsfsLogKind::kReads}) {
    traces::GcsfsLogImportOptions options;
    options.kind = kind;
    std::istringstream in(text);
    auto trace = traces::ImportGcsfsLog(in, "in.log", options);
    if (!trace) {
      FUZZ_REQUIRE(fuzz::NamesInput(trace.error().message, "in.log"), trace.error().message);
      continue;
    }
    for (const auto& r : trace->records) FUZZ_REQUIRE(r.stream == 0, "a gcsfs log has one stream");
    FUZZ_REQUIRE(trace->records.front().t_ns == 0, "time is not rebased to the first read");
    fuzz::CheckRoundTrip(*trace);
  }
  return 0;
}
