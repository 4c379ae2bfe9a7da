// Fuzzes the strace importer (traces/import_strace.h), with and without a file filter, never asking the
// file system for sizes (so a run does not depend on this machine). An imported trace must be valid and
// round-trip through the trace format; an error must name the input.
#include <sstream>

#include "fuzz/fuzz_check.h"
#include "fuzz/trace_checks.h"
#include "traces/import_strace.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  const std::string text(fuzz::AsText(data, size));
  traces::StraceImportOptions all;
  all.stat_sizes = false;
  traces::StraceImportOptions one = all;
  one.file = "*.bin";
  for (const auto* options : {&all, &one}) {
    std::istringstream in(text);
    auto trace = traces::ImportStrace(in, "in.strace", *options);
    if (!trace) {
      FUZZ_REQUIRE(fuzz::NamesInput(trace.error().message, "in.strace"), trace.error().message);
      continue;
    }
    FUZZ_REQUIRE(!trace->records.empty() && trace->records.front().t_ns == 0, "time is not rebased to the first read");
    fuzz::CheckRoundTrip(*trace);
  }
  return 0;
}
