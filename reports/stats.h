// The few statistics the reports use over per-seed results: medians, geometric means, and the
// Mann-Whitney U test that says whether two sets of per-seed values can be told apart.
//
// Why Mann-Whitney U: results over seeds are few (5 to 20 values), not normal (elapsed time has a long
// right tail from latency draws) and often tied (constant-latency profiles give identical runs). The
// exact U test needs none of normality, equal variances or pairing, and at n = 4 per side it can already
// reach p < 0.05, where a paired sign test over 5 seeds cannot (its smallest two-sided p is 0.0625).
// Ties get midranks and the p-value is exact under the permutation distribution of those midranks, so
// it stays exact with ties; for large samples (more than 60 values in all) the normal approximation
// with tie correction is used.
#pragma once

#include <cstddef>
#include <vector>

namespace pflab::reports {

/// The median (mean of the middle two for an even count); 0 for no values.
double Median(std::vector<double> values);

/// exp(mean(log x)) over the positive values; 0 when there are none.
double GeometricMean(const std::vector<double>& values);

/// A two-sided Mann-Whitney U test of `a` against `b`.
struct UTest {
  double u = 0;       // U of `a`: pairs (x in a, y in b) with x > y, plus half the ties
  double p = 1;       // two-sided p-value; 1 when either side is empty or every value is equal
  bool exact = true;  // false when the normal approximation was used
  /// The smallest two-sided p-value these sample sizes can give (with no ties): the test cannot
  /// call anything significant at a level below it.
  double min_p = 1;
};
UTest MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b);

/// The smallest two-sided p-value of an exact U test with sizes n and m (no ties): 2 / C(n+m, n).
double MinimumUTestP(std::size_t n, std::size_t m);

}  // namespace pflab::reports
