#include "reports/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

namespace pflab::reports {
namespace {

constexpr std::size_t kExactLimit = 60;  // values in all; above this the normal approximation is used

}  // namespace

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

double GeometricMean(const std::vector<double>& values) {
  double sum = 0;
  std::size_t n = 0;
  for (double v : values) {
    if (v > 0) {
      sum += std::log(v);
      ++n;
    }
  }
  return n ? std::exp(sum / static_cast<double>(n)) : 0;
}

double MinimumUTestP(std::size_t n, std::size_t m) {
  if (n == 0 || m == 0) return 1;
  // C(n+m, n) as a double; 2 / C is the chance of the most extreme arrangement, on either side.
  double c = 1;
  for (std::size_t i = 1; i <= n; ++i) c = c * static_cast<double>(m + i) / static_cast<double>(i);
  return std::min(1.0, 2.0 / c);
}

UTest MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b) {
  UTest out;
  const std::size_t n = a.size(), m = b.size(), total = n + m;
  out.min_p = MinimumUTestP(n, m);
  if (n == 0 || m == 0) return out;
  // Pool, sort, and give tied values their midrank; ranks are doubled so midranks stay integers.
  std::vector<std::pair<double, bool>> pooled;  // (value, from a)
  for (double x : a) pooled.emplace_back(x, true);
  for (double y : b) pooled.emplace_back(y, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
  std::vector<std::int64_t> rank2(total);  // doubled midranks, in pooled order
  double tie_term = 0;                     // sum of t^3 - t over tie groups
  for (std::size_t i = 0; i < total;) {
    std::size_t j = i;
    while (j < total && pooled[j].first == pooled[i].first) ++j;
    // Ranks i+1 .. j (1-based) share the midrank (i+1+j)/2; doubled: i+1+j.
    for (std::size_t k = i; k < j; ++k) rank2[k] = static_cast<std::int64_t>(i + 1 + j);
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  std::int64_t w2 = 0;  // doubled rank sum of a
  for (std::size_t k = 0; k < total; ++k) {
    if (pooled[k].second) w2 += rank2[k];
  }
  out.u = static_cast<double>(w2) / 2 - static_cast<double>(n * (n + 1)) / 2;
  const double mean_u = static_cast<double>(n * m) / 2;
  if (tie_term == static_cast<double>(total) * total * total - static_cast<double>(total)) return out;  // all equal
  if (total > kExactLimit) {
    out.exact = false;
    const double N = static_cast<double>(total);
    const double var = static_cast<double>(n * m) / 12 * ((N + 1) - tie_term / (N * (N - 1)));
    const double z = std::max(0.0, std::fabs(out.u - mean_u) - 0.5) / std::sqrt(var);
    out.p = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
    return out;
  }
  // Exact: the distribution of the doubled rank sum of a random n-subset of the pooled ranks.
  std::int64_t max_sum = 0;
  for (std::int64_t r : rank2) max_sum += r;
  std::vector<std::vector<double>> ways(n + 1, std::vector<double>(static_cast<std::size_t>(max_sum) + 1, 0));
  ways[0][0] = 1;
  for (std::size_t k = 0; k < total; ++k) {
    const auto r = static_cast<std::size_t>(rank2[k]);
    for (std::size_t c = std::min(n, k + 1); c >= 1; --c) {
      auto& to = ways[c];
      const auto& from = ways[c - 1];
      for (std::size_t s = static_cast<std::size_t>(max_sum); s >= r; --s) {
        if (from[s - r] != 0) to[s] += from[s - r];
        if (s == r) break;
      }
    }
  }
  const double expected2 = static_cast<double>(n) * static_cast<double>(total + 1);  // E[doubled W]
  const double observed = std::fabs(static_cast<double>(w2) - expected2);
  double extreme = 0, all = 0;
  for (std::size_t s = 0; s <= static_cast<std::size_t>(max_sum); ++s) {
    const double count = ways[n][s];
    if (count == 0) continue;
    all += count;
    // A small tolerance: doubled sums are integers, the comparison is exact up to rounding.
    if (std::fabs(static_cast<double>(s) - expected2) >= observed - 1e-9) extreme += count;
  }
  out.p = std::min(1.0, extreme / all);
  return out;
}

}  // namespace pflab::reports
