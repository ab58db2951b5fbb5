"""Estimates of the full-video figures from a sample, with 95 % intervals. Torch-free, pure functions.

The sampling unit is a pair (`vcc score --sample`) or an official batch (`--progressive`). Each unit
carries totals over its pairs (PoseNet and SegNet distortion sums, per candidate) and its pair
count; a stratum's mean per pair is the ratio of its sampled totals to its sampled pairs (for pairs
that is the plain mean), the strata are combined with their known pair counts, and the variance is
the textbook one for sampling without replacement: finite-population correction (1 - n_h/N_h),
residuals about the stratum's ratio, stratum weights squared (Cochran, Sampling Techniques,
5A.7 and 6.11).

The score is not linear in the PoseNet distortion (sqrt(10 P)). Its interval uses the delta method:
the score linearised at the estimate, with the full covariance of the estimated means (PoseNet and
SegNet of a pair move together). Why not a bootstrap: a without-replacement, stratified design
needs a rescaled bootstrap to honour the finite-population correction, thousands of resamples per
figure, and it is no better calibrated than the linearisation at these sample sizes (the coverage
bench measures the delta method's).

The PoseNet distortion's own interval is skewness-corrected: PoseNet's per-pair values are
strongly right-skewed (a few pairs carry much of the mean), and a t interval for such a mean
under-covers at K = 16 (measured: 88 % on the demo); the sample mostly misses the rare large
values, and then both the estimate and its variance estimate come out low. Hall's (1992) monotone
cubic transformation of the studentized mean removes T's first-order skewness (`skew_corrected`),
with its two ingredients estimated per stratum from the same residuals as the variance and
weighted like it: the estimate's third cumulant, (1 - f)(1 - 2f) k3 / n^2, and its covariance with
its variance estimate, (1 - f)^2 k3 / n^2 (both first order in the without-replacement design; a
stratum contributes only where three units are drawn and three left out, where that expansion
means something: otherwise the stratum adds variance but no skewness). Closed form, no
resampling: as cheap as the t interval and deterministic. The PoseNet term's interval is that
interval with sqrt(10 x) applied to its ends: monotone, so it keeps its coverage exactly. SegNet's
values are nearly symmetric: its interval stays the t interval, and the score's the delta method's
(its coverage is measured fine; the bench reports all three).
The critical value is Student's t with the design's degrees of freedom (n - 1 for a simple random
sample, Satterthwaite's for strata), not 1.96: at n = 16 the normal value under-covers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = [
    "Unit", "MeanEstimate", "Interval", "estimate_means", "score_estimate", "difference_estimate",
    "t_quantile", "skew_corrected", "simple_sample", "strata_by_difficulty", "allocate", "stratified_sample", "LEVEL",
]

LEVEL = 0.95


@dataclass(frozen=True)
class Unit:
    """One sampling unit: its totals (one per quantity: e.g. PoseNet and SegNet sums) over `count` pairs."""

    totals: tuple[float, ...]
    count: int


@dataclass(frozen=True)
class MeanEstimate:
    """Estimated per-pair means of each quantity over the whole population, their covariance and
    the degrees of freedom of that covariance."""

    means: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    df: float
    sampled_units: int
    population_units: int
    # Per quantity, what the PoseNet interval's skewness correction needs (zero where no stratum
    # has three units to estimate a third moment): the estimated third cumulant of the estimated
    # mean, and its estimated covariance with its own variance estimate.
    third: tuple[float, ...] = ()
    third_cross: tuple[float, ...] = ()

    def se(self, i: int) -> float:
        return math.sqrt(max(self.cov[i][i], 0.0))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    se: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "se": self.se,
                "half_width": self.half_width}


def estimate_means(sample: Sequence[Sequence[Unit]], population_units: Sequence[int],
                   population_pairs: Sequence[int]) -> MeanEstimate:
    """Stratified (separate) ratio estimate of each quantity's mean per pair.

    `sample[h]`: the units drawn without replacement from stratum h, which holds
    `population_units[h]` units and `population_pairs[h]` pairs. One stratum is a simple random
    sample. A stratum sampled whole adds no variance; any other needs two units at least.
    """
    if not (len(sample) == len(population_units) == len(population_pairs)) or not sample:
        raise ValueError("one sample, unit count and pair count per stratum")
    k = len(sample[0][0].totals) if sample[0] else len(next(s for s in sample if s)[0].totals)
    total_pairs = sum(population_pairs)
    means = [0.0] * k
    cov = [[0.0] * k for _ in range(k)]
    third = [0.0] * k
    cross = [0.0] * k
    df_num, df_den = 0.0, 0.0
    for units, big_n, pairs in zip(sample, population_units, population_pairs, strict=True):
        n = len(units)
        if n == 0 or n > big_n:
            raise ValueError(f"a stratum of {big_n} units sampled {n} times")
        weight = pairs / total_pairs
        counted = sum(u.count for u in units)
        ratios = [sum(u.totals[i] for u in units) / counted for i in range(k)]
        for i in range(k):
            means[i] += weight * ratios[i]
        if n == big_n:  # taken whole: known exactly
            continue
        if n < 2:
            raise ValueError("a stratum sampled in part needs at least two units for its variance")
        mean_count = pairs / big_n  # the population's pairs per unit
        resid = [[u.totals[i] - ratios[i] * u.count for u in units] for i in range(k)]
        factor = weight**2 * (1 - n / big_n) / (n * mean_count**2) / (n - 1)
        for i in range(k):
            for j in range(i, k):
                c = factor * sum(a * b for a, b in zip(resid[i], resid[j], strict=True))
                cov[i][j] += c
                if i != j:
                    cov[j][i] += c
        if n >= 3 and big_n - n >= 3:
            # Without replacement, to first order in the stratum's third moment k3 (its unbiased
            # sample estimate): the mean's third central moment is (1 - f)(1 - 2f) k3 / n^2 (its
            # sign flips past half the stratum, where the mean is that of the few left out) and
            # the mean's covariance with its variance estimate (1 - f)^2 k3 / n^2. Only with
            # three drawn (for k3) and three left out (nearly whole, the expansion breaks down).
            f = n / big_n
            k3 = [n / ((n - 1) * (n - 2)) * sum(r**3 for r in resid[i]) / mean_count**3 for i in range(k)]
            for i in range(k):
                third[i] += weight**3 * (1 - f) * (1 - 2 * f) * k3[i] / n**2
                cross[i] += weight**3 * (1 - f) ** 2 * k3[i] / n**2
        # Satterthwaite's degrees of freedom, on the first quantity's variance contributions.
        contribution = factor * sum(r * r for r in resid[0])
        df_num += contribution
        df_den += contribution**2 / (n - 1)
    df = df_num**2 / df_den if df_den > 0 else math.inf
    return MeanEstimate(tuple(means), tuple(tuple(r) for r in cov), df, sum(len(s) for s in sample),
                        sum(population_units), tuple(third), tuple(cross))


@lru_cache(maxsize=4096)
def _t_quantile(df_key: float, level: float) -> float:
    df = df_key
    if math.isinf(df) or df > 1e6:
        return _normal_quantile(0.5 + level / 2)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf_above_zero(x: float) -> float:  # P(0 <= T <= x), Simpson's rule on the density
        steps = 400
        h = x / steps
        total = 0.0
        for s in range(steps + 1):
            t = s * h
            w = 1 if s in (0, steps) else (4 if s % 2 else 2)
            total += w * math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))
        return total * h / 3

    target = level / 2
    lo, hi = 0.0, 1.0
    while cdf_above_zero(hi) < target:
        lo, hi = hi, hi * 2
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf_above_zero(mid) < target else (lo, mid)
    return (lo + hi) / 2


def _normal_quantile(p: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * math.erfc(-mid / math.sqrt(2)) < p else (lo, mid)
    return (lo + hi) / 2


def t_quantile(df: float, level: float = LEVEL) -> float:
    """The two-sided critical value of Student's t (df may be fractional; infinite: normal)."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    return _t_quantile(round(df, 2) if not math.isinf(df) else df, level)


def _linear(estimate: float, variance: float, crit: float) -> Interval:
    se = math.sqrt(max(variance, 0.0))
    return Interval(estimate, estimate - crit * se, estimate + crit * se, se)


def skew_corrected(estimate: float, variance: float, third: float, cross: float, crit: float) -> Interval:
    """The studentized estimate T = (est - mean) / se, freed of its first-order skewness by Hall's
    (1992) monotone cubic transformation and inverted.

    To first order, with lam = third / se^3 (the estimate's own skewness) and q = cross / se^3
    (its covariance with the variance estimate, scaled): E[T] = -q/2 and T's third cumulant is
    lam - 3q. So g(t) = t + b t^2 + b^2 t^3 / 3 + c, with b = (3q - lam) / 6 and c = q/2 - b, has
    mean 0 and no skewness; the interval is [est - se g^-1(crit), est - se g^-1(-crit)]. For an
    i.i.d. mean (q = lam = skewness / sqrt(n)) this is Hall's own g. Why not lam alone: without
    replacement past half the population lam changes sign, while a low estimate still comes with
    a low variance estimate (the sample missed the rare large values), which q carries."""
    se = math.sqrt(max(variance, 0.0))
    if se == 0:
        return Interval(estimate, estimate, estimate, 0.0)
    lam, q = third / se**3, cross / se**3
    b = (3 * q - lam) / 6
    c = q / 2 - b
    if abs(b) < 1e-12:
        return Interval(estimate, estimate - se * (crit - c), estimate + se * (crit + c), se)

    def g_inverse(x: float) -> float:
        y = 1 + 3 * b * (x - c)
        return (math.copysign(abs(y) ** (1 / 3), y) - 1) / b

    return Interval(estimate, estimate - se * g_inverse(crit), estimate - se * g_inverse(-crit), se)


def _quad(grad: Sequence[float], cov: Sequence[Sequence[float]]) -> float:
    return sum(grad[i] * cov[i][j] * grad[j] for i in range(len(grad)) for j in range(len(grad)))


def _pose_slope(posenet: float) -> float:
    """d sqrt(10 P) / dP."""
    return math.sqrt(10) / (2 * math.sqrt(posenet)) if posenet > 0 else 0.0


@dataclass(frozen=True)
class ScoreEstimate:
    """Per term and for the score: the estimate and its interval (rate: exact, zero width)."""

    posenet_distortion: Interval
    segnet_distortion: Interval
    terms: dict[str, Interval]
    score: Interval
    df: float
    crit: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"posenet_distortion": self.posenet_distortion.as_json(),
                "segnet_distortion": self.segnet_distortion.as_json(),
                "terms": {k: v.as_json() for k, v in self.terms.items()},
                "score": self.score.as_json(), "degrees_of_freedom": self.df, "critical_value": self.crit,
                "level": LEVEL, **self.extra}


def score_estimate(est: MeanEstimate, rate: float, pose: int = 0, seg: int = 1) -> ScoreEstimate:
    """The score's figures from estimated means (quantities `pose` and `seg` of `est`)."""
    crit = t_quantile(est.df)
    p, s = est.means[pose], est.means[seg]
    p_int = skew_corrected(p, est.cov[pose][pose], est.third[pose] if est.third else 0.0,
                           est.third_cross[pose] if est.third_cross else 0.0, crit)
    s_int = _linear(s, est.cov[seg][seg], crit)
    a = _pose_slope(p)
    pose_term = Interval(math.sqrt(10 * p), math.sqrt(10 * max(p_int.low, 0.0)), math.sqrt(10 * p_int.high),
                         a * p_int.se)
    seg_term = Interval(100 * s, 100 * s_int.low, 100 * s_int.high, 100 * s_int.se)
    rate_term = Interval(25 * rate, 25 * rate, 25 * rate, 0.0)
    grad = [0.0] * len(est.means)
    grad[pose], grad[seg] = a, 100.0
    score = seg_term.estimate + pose_term.estimate + rate_term.estimate
    score_int = _linear(score, _quad(grad, est.cov), crit)
    return ScoreEstimate(p_int, s_int, {"segnet": seg_term, "posenet": pose_term, "rate": rate_term}, score_int,
                         est.df, crit)


@dataclass(frozen=True)
class DifferenceEstimate:
    """B - A on the same sampled pairs, and what two separate samples of this size would give."""

    score: Interval
    terms: dict[str, Interval]
    sign_settled: bool
    separate_half_width: float
    df: float

    @property
    def tighter_by(self) -> float:
        """How many times narrower than two separate estimates' difference."""
        return self.separate_half_width / self.score.half_width if self.score.half_width > 0 else math.inf

    def as_json(self) -> dict[str, Any]:
        return {"score": self.score.as_json(), "terms": {k: v.as_json() for k, v in self.terms.items()},
                "sign_settled": self.sign_settled, "separate_half_width": self.separate_half_width,
                "tighter_by": self.tighter_by, "degrees_of_freedom": self.df, "level": LEVEL}


def difference_estimate(est: MeanEstimate, rate_a: float, rate_b: float) -> DifferenceEstimate:
    """Quantities of `est`: (pose A, seg A, pose B, seg B) on the same units. The difference of
    scores B - A linearised at the estimates (the delta method, with the covariance across the
    two candidates: what makes the paired interval tight). The separate-estimates width: the same
    design for each alone, drawn independently (no covariance between them)."""
    crit = t_quantile(est.df)
    pa, sa, pb, sb = est.means
    a_a, a_b = _pose_slope(pa), _pose_slope(pb)
    grad = [-a_a, -100.0, a_b, 100.0]
    diff = (100 * sb + math.sqrt(10 * pb) + 25 * rate_b) - (100 * sa + math.sqrt(10 * pa) + 25 * rate_a)
    score = _linear(diff, _quad(grad, est.cov), crit)
    seg = _linear(100 * (sb - sa), 1e4 * (est.cov[1][1] + est.cov[3][3] - 2 * est.cov[1][3]), crit)
    pose = _linear(math.sqrt(10 * pb) - math.sqrt(10 * pa),
                   _quad([-a_a, a_b], [[est.cov[0][0], est.cov[0][2]], [est.cov[2][0], est.cov[2][2]]]), crit)
    rate = Interval(25 * (rate_b - rate_a), 25 * (rate_b - rate_a), 25 * (rate_b - rate_a), 0.0)
    var_a = _quad([a_a, 100.0], [[est.cov[0][0], est.cov[0][1]], [est.cov[1][0], est.cov[1][1]]])
    var_b = _quad([a_b, 100.0], [[est.cov[2][2], est.cov[2][3]], [est.cov[3][2], est.cov[3][3]]])
    separate = crit * math.sqrt(max(var_a + var_b, 0.0))
    settled = score.low > 0 or score.high < 0
    return DifferenceEstimate(score, {"segnet": seg, "posenet": pose, "rate": rate}, settled, separate, est.df)


# ------------------------------------------------------------------------------------------ designs


def simple_sample(population: int, k: int, rng: random.Random) -> list[int]:
    """k of range(population) without replacement, ascending."""
    return sorted(rng.sample(range(population), k))


def strata_by_difficulty(difficulty: Sequence[float], strata: int) -> list[list[int]]:
    """Units ranked by a related candidate's per-unit difficulty, cut into `strata` groups of
    (nearly) equal size, easiest first; each group lists unit indices ascending."""
    order = sorted(range(len(difficulty)), key=lambda i: (difficulty[i], i))
    n = len(order)
    return [sorted(order[h * n // strata:(h + 1) * n // strata]) for h in range(strata)]


def allocate(k: int, sizes: Sequence[int], spreads: Sequence[float]) -> list[int]:
    """k draws allocated to strata in proportion to N_h * S_h (equal S_h: proportional allocation;
    a related candidate's spreads: Neyman's), at least two per stratum (for its variance) and at
    most its size; largest remainders round it to exactly k."""
    h = len(sizes)
    if k < 2 * h or k > sum(sizes):
        raise ValueError(f"{k} draws cannot fill {h} strata of sizes {list(sizes)} with two each")
    alloc = [min(2, s) for s in sizes]
    free = [i for i in range(h) if alloc[i] < sizes[i]]
    left = k - sum(alloc)
    while left > 0 and free:
        weights = [sizes[i] * max(spreads[i], 1e-300) for i in free]
        total = sum(weights)
        shares = [left * w / total for w in weights]
        grant = [min(int(sh), sizes[i] - alloc[i]) for sh, i in zip(shares, free, strict=True)]
        if sum(grant) == 0:  # hand out by the largest remainder, one at a time
            best = max(range(len(free)), key=lambda j: (shares[j] - int(shares[j]), -free[j]))
            grant[best] = 1
        for g, i in zip(grant, free, strict=True):
            alloc[i] += g
        left = k - sum(alloc)
        free = [i for i in range(h) if alloc[i] < sizes[i]]
    return alloc


def stratified_sample(strata: Sequence[Sequence[int]], alloc: Sequence[int], rng: random.Random) -> list[list[int]]:
    """alloc[h] units of stratum h, without replacement; each stratum's draw ascending."""
    return [sorted(rng.sample(list(units), n)) for units, n in zip(strata, alloc, strict=True)]
