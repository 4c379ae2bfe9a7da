#include "engine/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace pflab {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "12.5MiB" as its digits: whole "12", fraction "5", suffix "mib". Only digits and one '.' make the
// number, so signs, exponents, "nan" and "inf" never parse as one.
struct Decimal {
  std::string_view whole;
  std::string_view fraction;  // without the '.', trailing zeros removed
  std::string suffix;         // lower case
};

bool SplitNumber(std::string_view text, Decimal* out) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  out->whole = text.substr(0, i);
  if (i < text.size() && text[i] == '.') {
    const std::size_t start = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    out->fraction = text.substr(start, i - start);
    if (out->whole.empty() && out->fraction.empty()) return false;  // "." alone
  } else if (out->whole.empty()) {
    return false;
  }
  while (!out->fraction.empty() && out->fraction.back() == '0') out->fraction.remove_suffix(1);
  out->suffix = Lower(text.substr(i));
  return true;
}

// The number times `scale`, exactly, as long as the result is an integer that fits 64 bits. 128-bit
// intermediates: the fraction has at most 19 significant digits (< 2^64) and scale < 2^41.
enum class Scaled { kOk, kTooLarge, kNotWhole };
Scaled Scale(const Decimal& d, std::uint64_t scale, std::uint64_t* out) {
  using U128 = unsigned __int128;
  std::uint64_t whole = 0;
  if (!d.whole.empty()) {
    auto [ptr, ec] = std::from_chars(d.whole.data(), d.whole.data() + d.whole.size(), whole);
    if (ec == std::errc::result_out_of_range) return Scaled::kTooLarge;
    if (ec != std::errc() || ptr != d.whole.data() + d.whole.size()) return Scaled::kNotWhole;
  }
  U128 value = static_cast<U128>(whole) * scale;
  if (value > std::numeric_limits<std::uint64_t>::max()) return Scaled::kTooLarge;
  if (!d.fraction.empty()) {
    if (d.fraction.size() > 19) return Scaled::kNotWhole;  // a part below 10^-19 of a unit stays
    std::uint64_t digits = 0;
    std::from_chars(d.fraction.data(), d.fraction.data() + d.fraction.size(), digits);
    U128 power = 1;
    for (std::size_t k = 0; k < d.fraction.size(); ++k) power *= 10;
    const U128 part = static_cast<U128>(digits) * scale;
    if (part % power != 0) return Scaled::kNotWhole;
    value += part / power;
    if (value > std::numeric_limits<std::uint64_t>::max()) return Scaled::kTooLarge;
  }
  *out = static_cast<std::uint64_t>(value);
  return Scaled::kOk;
}

// As Scale, but rounded to the nearest unit of the result (half up) instead of failing on a fraction.
Scaled ScaleRounded(const Decimal& d, std::uint64_t scale, std::uint64_t* out) {
  Decimal whole_only = d;
  whole_only.fraction = {};
  if (auto s = Scale(whole_only, scale, out); s != Scaled::kOk) return s;
  unsigned __int128 part = 0, power = 1;
  for (std::size_t k = 0; k < d.fraction.size() && k < 19; ++k) {
    part = part * 10 + static_cast<unsigned>(d.fraction[k] - '0');
    power *= 10;
  }
  const unsigned __int128 total = *out + (part * scale + power / 2) / power;
  if (total > std::numeric_limits<std::uint64_t>::max()) return Scaled::kTooLarge;
  *out = static_cast<std::uint64_t>(total);
  return Scaled::kOk;
}

}  // namespace

Result<std::uint64_t> ParseSize(std::string_view text) {
  Decimal number;
  if (!SplitNumber(text, &number)) {
    return InvalidArgument("'" + std::string(text) + "' is not a size (expected e.g. 64KiB, 5MiB, 1GB, 4096)");
  }
  const std::string& suffix = number.suffix;
  std::uint64_t scale = 0;
  if (suffix.empty() || suffix == "b")
    scale = 1;
  else if (suffix == "kb")
    scale = 1000;
  else if (suffix == "mb")
    scale = 1000 * 1000;
  else if (suffix == "gb")
    scale = 1000ull * 1000 * 1000;
  else if (suffix == "tb")
    scale = 1000ull * 1000 * 1000 * 1000;
  else if (suffix == "kib" || suffix == "k")
    scale = 1ull << 10;
  else if (suffix == "mib" || suffix == "m")
    scale = 1ull << 20;
  else if (suffix == "gib" || suffix == "g")
    scale = 1ull << 30;
  else if (suffix == "tib" || suffix == "t")
    scale = 1ull << 40;
  else {
    return InvalidArgument("'" + std::string(text) +
                           "' has an unknown size suffix (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
  }
  std::uint64_t bytes = 0;
  switch (Scale(number, scale, &bytes)) {
    case Scaled::kOk: return bytes;
    case Scaled::kTooLarge: return InvalidArgument("'" + std::string(text) + "' is too large (at most 2^64-1 bytes)");
    case Scaled::kNotWhole: break;
  }
  return InvalidArgument("'" + std::string(text) + "' is not a whole number of bytes");
}

Result<Nanos> ParseDuration(std::string_view text) {
  Decimal number;
  if (!SplitNumber(text, &number)) {
    return InvalidArgument("'" + std::string(text) + "' is not a duration (expected e.g. 30ms, 1.5s, 200us)");
  }
  std::uint64_t scale = 0;
  const std::string& suffix = number.suffix;
  if (suffix == "ns")
    scale = 1;
  else if (suffix == "us")
    scale = 1000;
  else if (suffix == "ms")
    scale = 1000 * 1000;
  else if (suffix == "s")
    scale = 1000ull * 1000 * 1000;
  else if (suffix.empty() && number.whole.find_first_not_of('0') == std::string_view::npos && number.fraction.empty())
    scale = 1;  // a bare 0
  else
    return InvalidArgument("'" + std::string(text) + "' needs a unit: ns, us, ms or s");
  std::uint64_t ns = 0;
  if (ScaleRounded(number, scale, &ns) != Scaled::kOk ||
      ns > static_cast<std::uint64_t>(std::numeric_limits<Nanos>::max())) {
    return InvalidArgument("'" + std::string(text) + "' is too long (at most 2^63-1 ns, about 292 years)");
  }
  return static_cast<Nanos>(ns);
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
