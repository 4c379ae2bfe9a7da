// Small text helpers shared by the parsers of policy specs, traces and HTTP headers.
#pragma once

#include <string>
#include <string_view>

namespace pflab {

/// What std::isspace accepts in the C locale.
inline constexpr std::string_view kWhitespace = " \t\n\v\f\r";

/// `text` without leading and trailing characters from `blanks` (HTTP's optional white space is " \t").
std::string_view Trim(std::string_view text, std::string_view blanks = kWhitespace);

/// `value` with `digits` digits after the point ("%.*f"), for tables and reports.
std::string FormatFixed(double value, int digits);

}  // namespace pflab
