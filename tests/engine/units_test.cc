// ParseSize and ParseDuration: exact values, and errors (never a wrapped or rounded number) for
// values that do not fit, fractions of a byte, signs, exponents, NaN and infinity.
#include "engine/units.h"

#include <catch2/catch.hpp>
#include <limits>

namespace pflab {
namespace {

std::string SizeError(const std::string& text) {
  auto r = ParseSize(text);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

std::string DurationError(const std::string& text) {
  auto r = ParseDuration(text);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

TEST_CASE("units: sizes parse exactly", "[engine][units]") {
  CHECK(*ParseSize("0") == 0);
  CHECK(*ParseSize("4096") == 4096);
  CHECK(*ParseSize("5MiB") == 5ull << 20);
  CHECK(*ParseSize("1.5KiB") == 1536);
  CHECK(*ParseSize("0.5k") == 512);
  CHECK(*ParseSize("1GB") == 1000000000ull);
  CHECK(*ParseSize("2.50tb") == 2500000000000ull);
  CHECK(*ParseSize("1024TiB") == 1ull << 50);
  // Integers above 2^53 stay exact (a double would round them).
  CHECK(*ParseSize("9007199254740993") == 9007199254740993ull);
  CHECK(*ParseSize("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("units: bad sizes are errors that say why", "[engine][units]") {
  CHECK_THAT(SizeError("18446744073709551616"), Catch::Contains("too large"));
  CHECK_THAT(SizeError("16777216TiB"), Catch::Contains("too large"));  // 2^64 bytes
  CHECK_THAT(SizeError("99999999999999999999999999GiB"), Catch::Contains("too large"));
  CHECK_THAT(SizeError("1.5"), Catch::Contains("not a whole number of bytes"));
  CHECK_THAT(SizeError("0.0000000000000000000001KiB"), Catch::Contains("not a whole number of bytes"));
  for (const char* bad : {"", "-1", "+5", "1e9", "nan", "inf", ".", "MiB", " 5"}) {
    INFO(bad);
    CHECK_FALSE(ParseSize(bad).ok());
  }
  CHECK_THAT(SizeError("5XB"), Catch::Contains("unknown size suffix"));
}

TEST_CASE("units: durations parse exactly and overflow is an error", "[engine][units]") {
  CHECK(*ParseDuration("0") == 0);
  CHECK(*ParseDuration("30ms") == 30 * kMillisecond);
  CHECK(*ParseDuration("1.5s") == 1500 * kMillisecond);
  CHECK(*ParseDuration("0.1ms") == 100 * kMicrosecond);
  CHECK(*ParseDuration("200us") == 200 * kMicrosecond);
  CHECK(*ParseDuration("1.5ns") == 2);  // rounded to the nearest nanosecond
  CHECK(*ParseDuration("9223372036854775807ns") == std::numeric_limits<Nanos>::max());
  // 10^11 s is 10^20 ns, above 2^63-1: an error, not a negative duration.
  CHECK_THAT(DurationError("100000000000s"), Catch::Contains("too long"));
  CHECK_THAT(DurationError("9223372036854775808ns"), Catch::Contains("too long"));
  CHECK_THAT(DurationError("5"), Catch::Contains("needs a unit"));
  for (const char* bad : {"-1s", "nan", "infs", "1e3s", "", "ms", "+1s"}) {
    INFO(bad);
    CHECK_FALSE(ParseDuration(bad).ok());
  }
}

TEST_CASE("units: rates", "[engine][units]") {
  CHECK(*ParseRate("100MB/s") == 1e8);
  CHECK_FALSE(ParseRate("100MB").ok());
  CHECK_FALSE(ParseRate("99999999999999999999TB/s").ok());
}

}  // namespace
}  // namespace pflab
