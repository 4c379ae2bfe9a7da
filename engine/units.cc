#include "engine/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace pflab {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "12.5MiB" into 12.5 and "mib"; fails on no number.
bool SplitNumber(std::string_view text, double* number, std::string* suffix) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *number);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  *suffix = Lower(text.substr(i));
  return true;
}

}  // namespace

Result<std::uint64_t> ParseSize(std::string_view text) {
  double number = 0;
  std::string suffix;
  if (!SplitNumber(text, &number, &suffix)) {
    return InvalidArgument("'" + std::string(text) + "' is not a size (expected e.g. 64KiB, 5MiB, 1GB, 4096)");
  }
  double scale = 0;
  if (suffix.empty() || suffix == "b")
    scale = 1;
  else if (suffix == "kb")
    scale = 1e3;
  else if (suffix == "mb")
    scale = 1e6;
  else if (suffix == "gb")
    scale = 1e9;
  else if (suffix == "tb")
    scale = 1e12;
  else if (suffix == "kib" || suffix == "k")
    scale = 1024.0;
  else if (suffix == "mib" || suffix == "m")
    scale = 1024.0 * 1024;
  else if (suffix == "gib" || suffix == "g")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "tib" || suffix == "t")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else {
    return InvalidArgument("'" + std::string(text) +
                           "' has an unknown size suffix (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
  }
  const double bytes = number * scale;
  if (bytes != std::floor(bytes) || bytes > 1.8e19) {
    return InvalidArgument("'" + std::string(text) + "' is not a whole number of bytes");
  }
  return static_cast<std::uint64_t>(bytes);
}

Result<Nanos> ParseDuration(std::string_view text) {
  double number = 0;
  std::string suffix;
  if (!SplitNumber(text, &number, &suffix)) {
    return InvalidArgument("'" + std::string(text) + "' is not a duration (expected e.g. 30ms, 1.5s, 200us)");
  }
  double scale = 0;
  if (suffix == "ns")
    scale = 1;
  else if (suffix == "us")
    scale = 1e3;
  else if (suffix == "ms")
    scale = 1e6;
  else if (suffix == "s")
    scale = 1e9;
  else if (suffix.empty() && number == 0)
    scale = 1;
  else
    return InvalidArgument("'" + std::string(text) + "' needs a unit: ns, us, ms or s");
  return static_cast<Nanos>(std::llround(number * scale));
}

Result<double> ParseRate(std::string_view text) {
  const std::string lower = Lower(text);
  if (lower.size() < 3 || lower.substr(lower.size() - 2) != "/s") {
    return InvalidArgument("'" + std::string(text) + "' is not a rate (expected e.g. 100MB/s, 1GiB/s)");
  }
  auto size = ParseSize(text.substr(0, text.size() - 2));
  if (!size) return size.error();
  return static_cast<double>(*size);
}

std::string FormatSize(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  if (value == std::floor(value))
    std::snprintf(buf, sizeof buf, "%.0f%s", value, kUnits[unit]);
  else
    std::snprintf(buf, sizeof buf, "%.3g%s", value, kUnits[unit]);
  return buf;
}

std::string FormatSizeExact(std::uint64_t bytes) {
  static const char* kUnits[] = {"", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes != 0 && bytes % 1024 == 0 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kUnits[unit];
}

}  // namespace pflab
