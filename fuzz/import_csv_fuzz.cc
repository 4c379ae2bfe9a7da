// Fuzzes the CSV importer (traces/import_csv.h) under three option sets. An imported trace must be
// valid and round-trip through the trace format; an error must name the input.
#include <sstream>

#include "fuzz/fuzz_check.h"
#include "fuzz/trace_checks.h"
#include "traces/import_csv.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  const std::string text(fuzz::AsText(data, size));
  traces::CsvImportOptions plain;
  traces::CsvImportOptions ns_sized;
  ns_sized.time_unit = "ns";
  ns_sized.size = 1 << 20;
  ns_sized.name = "sized";
  traces::CsvImportOptions ms;
  ms.time_unit = "ms";
  for (const auto* options : {&plain, &ns_sized, &ms}) {
    std::istringstream in(text);
    auto trace = traces::ImportCsv(in, "in.csv", *options);
    if (!trace) {
      FUZZ_REQUIRE(fuzz::NamesInput(trace.error().message, "in.csv"), trace.error().message);
      continue;
    }
    FUZZ_REQUIRE(trace->objects.size() == 1, "a CSV describes one object");
    if (options->size) FUZZ_REQUIRE(trace->objects[0].size == *options->size, "the size option was not kept");
    FUZZ_REQUIRE(!trace->records.empty() && trace->records.front().t_ns == 0, "time is not rebased to the first read");
    fuzz::CheckRoundTrip(*trace);
  }
  return 0;
}
