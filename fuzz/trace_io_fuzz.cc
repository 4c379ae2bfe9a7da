// Fuzzes the trace v1 reader (traces/trace_io.h). A trace it accepts must be valid, and must write and
// read back identically; a trace it rejects must say which file (and line) is wrong.
#include <sstream>

#include "fuzz/fuzz_check.h"
#include "fuzz/trace_checks.h"
#include "traces/trace_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  std::istringstream in{std::string(fuzz::AsText(data, size))};
  auto trace = traces::ParseTrace(in, "in.jsonl");
  if (!trace) {
    FUZZ_REQUIRE(fuzz::NamesInput(trace.error().message, "in.jsonl"), trace.error().message);
    return 0;
  }
  fuzz::CheckRoundTrip(*trace);
  return 0;
}
