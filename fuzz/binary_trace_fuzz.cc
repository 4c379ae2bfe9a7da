// Fuzzes the binary trace reader (traces/binary_trace.h), reached the way every command reaches it: by
// content, through ParseTrace. A trace it accepts must be valid and must write and read back
// identically in both forms; a trace it rejects must say which file is wrong (and where).
#include <sstream>

#include "fuzz/fuzz_check.h"
#include "fuzz/trace_checks.h"
#include "traces/binary_trace.h"
#include "traces/trace_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pflab;
  // Inputs that do not begin like a binary trace would only fuzz the JSONL reader (trace_io's job):
  // give them the magic, so that every input reaches the binary reader.
  std::string bytes(fuzz::AsText(data, size));
  if (!traces::LooksLikeBinaryTrace(bytes))
    bytes.insert(0, traces::kBinaryTraceMagic, sizeof traces::kBinaryTraceMagic);
  std::istringstream in(bytes);
  auto trace = traces::ParseTrace(in, "in.bin");
  if (!trace) {
    FUZZ_REQUIRE(fuzz::NamesInput(trace.error().message, "in.bin"), trace.error().message);
    return 0;
  }
  fuzz::CheckRoundTrip(*trace);
  return 0;
}
