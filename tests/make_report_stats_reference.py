#!/usr/bin/env python3
"""Reference values for tests/test_report_stats.c, computed with SciPy (Debian's python3-scipy),
independently of rampart's C code: Wilson intervals (no continuity correction) by inverting
the score test numerically (the p where |k/n - p| / sqrt(p (1 - p) / n) = z, found with
scipy.optimize.brentq; not the closed form the C code uses), and McNemar's exact and continuity-corrected chi-square
p-values from scipy.stats.binom and scipy.stats.chi2 (statsmodels' mcnemar gives the same
definitions). Prints the C table that the test embeds; rerun and paste when adding cases."""
from scipy import optimize, stats

z = stats.norm.ppf(0.975)
print(f"/* z = {z!r} */")
print("static const wilson_case WILSON[] = {")
for k, n in [(0, 10), (1, 10), (5, 10), (10, 10), (81, 100), (412, 500), (9231, 10000), (3, 7), (0, 1), (1, 1)]:
    ph = k / n
    f = lambda p: (ph - p) ** 2 - z * z * p * (1 - p) / n
    inner_lo, inner_hi = (ph if k < n else 1 - 1e-12), (ph if k > 0 else 1e-12)  # f < 0 there
    lo = 0.0 if k == 0 else optimize.brentq(f, 1e-15, inner_lo, xtol=1e-15, rtol=1e-15)
    hi = 1.0 if k == n else optimize.brentq(f, inner_hi, 1 - 1e-15, xtol=1e-15, rtol=1e-15)
    print(f"    {{{k}, {n}, {lo!r}, {hi!r}}},")
print("};")
print("static const mcnemar_case MCNEMAR[] = {")
for b, c in [(0, 0), (1, 0), (5, 1), (10, 3), (3, 10), (20, 20), (40, 25), (120, 80), (300, 250), (1, 12), (0, 9)]:
    n = b + c
    pe = 1.0 if n == 0 else min(1.0, 2 * stats.binom.cdf(min(b, c), n, 0.5))
    chi2 = 0.0 if n == 0 else max(abs(b - c) - 1, 0) ** 2 / n
    pc = 1.0 if n == 0 else stats.chi2.sf(chi2, 1)
    print(f"    {{{b}, {c}, {pe!r}, {chi2!r}, {pc!r}}},")
print("};")
