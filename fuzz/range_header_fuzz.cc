// Fuzzes the fake server's Range header resolution (fake_gcs/protocol.h ResolveRange). The first 8
// bytes are the object size, the rest the header value; every header is also tried against a few fixed
// sizes. A partial answer lies within the object and is not empty, a whole one is the object, and a
// closed range `bytes=A-B` (as the gcsfs-log importer reads it, an independent parser) resolves to
// exactly [A, min(B + 1, size)) or, starting at or past the end, to 416.
#include <cstring>
#include <limits>

#include "fake_gcs/protocol.h"
#include "fuzz/fuzz_check.h"
#include "traces/import_gcsfs_log.h"

namespace {

using pflab::fake_gcs::ResolvedRange;

std::string Show(std::string_view header, std::uint64_t size, const ResolvedRange& r) {
  return "'" + std::string(header) + "' on " + std::to_string(size) + " bytes: kind " +
         std::to_string(static_cast<int>(r.kind)) + " [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

void Check(std::string_view header, std::uint64_t size) {
  const ResolvedRange r = pflab::fake_gcs::ResolveRange(header, size);
  switch (r.kind) {
    case ResolvedRange::Kind::kWhole: FUZZ_REQUIRE(r.begin == 0 && r.end == size, Show(header, size, r)); break;
    case ResolvedRange::Kind::kPartial: FUZZ_REQUIRE(r.begin < r.end && r.end <= size, Show(header, size, r)); break;
    case ResolvedRange::Kind::kUnsatisfiable: break;
  }
  // Leading and trailing '\r' are HTTP's line end, never part of a header value: the importer trims them.
  if (header.find('\r') != std::string_view::npos) return;
  if (const auto closed = pflab::traces::InclusiveRangeToRead(header)) {
    if (closed->offset >= size) {
      FUZZ_REQUIRE(r.kind == ResolvedRange::Kind::kUnsatisfiable, Show(header, size, r));
    } else {
      const std::uint64_t end = closed->length > size - closed->offset ? size : closed->offset + closed->length;
      FUZZ_REQUIRE(r.kind == ResolvedRange::Kind::kPartial && r.begin == closed->offset && r.end == end,
                   Show(header, size, r));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t object_size = 0;
  std::memcpy(&object_size, data, 8);
  const std::string_view header = pflab::fuzz::AsText(data + 8, size - 8);
  Check(header, object_size);
  for (std::uint64_t fixed : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}, std::uint64_t{1} << 40,
                              std::numeric_limits<std::uint64_t>::max()}) {
    Check(header, fixed);
  }
  // No header: the whole object.
  const ResolvedRange none = pflab::fake_gcs::ResolveRange(std::nullopt, object_size);
  FUZZ_REQUIRE(none.kind == ResolvedRange::Kind::kWhole && none.end == object_size, "no header");
  return 0;
}
