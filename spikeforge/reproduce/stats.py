"""Aggregation over seeds and the verdict rule of the study.

Everything here is plain arithmetic on lists of numbers, so it can be checked by hand.

Verdict rule (one comparison of a *treatment* arm against a *baseline* arm, ``n`` seeds each):

* ``d`` is the difference of the means, signed so that a positive ``d`` favours the
  treatment (for a lower-is-better metric such as epochs to converge, ``d = base - treat``);
* ``se`` is its standard error. The study's arms are *paired*: the same seed gives the same
  initial weights and the same batch order in every arm, so the seed-to-seed spread that is
  common to both arms cancels in the per-seed differences ``d_i``, and
  ``se = sd(d_i) / sqrt(n)`` (``paired=True``). Unpaired, ``se = sqrt(s_t^2 / n_t + s_b^2 / n_b)``.
  Standard deviations are sample ones (``ddof = 1``);
* the interval is ``[d - k*se, d + k*se]`` with ``k = 2``;
* a *superiority* claim ("A improves on B") **holds here** when the interval lies above 0,
  **does not hold here** when it lies below 0 (A is significantly worse), is a **tie** (``no
  difference here``) when the interval lies inside ``(-margin, +margin)`` (the data exclude a
  change as large as the papers' effects, either way), and is **inconclusive** otherwise.
  A tie is not a failure of the claim: it says the effect is smaller than the margin here;
* a *non-inferiority* claim ("A matches or beats B") **holds here** when the interval lies
  above ``-margin``, **does not hold here** when ``d < -margin`` and the interval lies below 0
  (worse by more than the margin on average, and significantly worse), else inconclusive;
* a comparison that cannot show the effect is **untestable here** (checked before the rule
  above): for accuracies, when neither arm's mean is above chance + ``margin`` (nothing was
  learned), or when the baseline's mean is within ``margin`` of the ceiling (``ceiling``, e.g.
  100%: no room left for the treatment to improve by the margin).

Margins are chosen per claim from the papers' own effect sizes (each claim module says which).

With 3 seeds, ``k = 2`` is a screening threshold (about an 88% two-sided interval for
Welch's t with 4 degrees of freedom), not a formal test; the tables show ``d`` and ``se`` so
that a reader can apply a stricter rule. A claim made of several comparisons is combined by
:func:`combine`, or by :func:`conjunction` when the claim says "A beats B **and** C".

Power: with per-seed differences of standard deviation ``sd`` and a true effect equal to the
margin, the interval ``d - k*se`` clears 0 with probability ``Phi(margin * sqrt(n) / sd - k)``
(normal approximation, :func:`power`); :func:`seeds_needed` is the smallest ``n`` with 80% of it,
``ceil(((k + z_0.8) * sd / margin)^2)``, e.g. sd 1.42 pp and margin 1 pp: ``(2.8416 * 1.42)^2 =
16.3``, 17 seeds (16 give 79%). :func:`resolution` reads both off a :class:`Comparison` (the
one place that does, for the report and the claims alike).

**Below resolution**: an inconclusive comparison whose seeds are fewer than those needed to
resolve its margin (``compare(..., resolve=True)``) says so instead of "inconclusive": the
experiment could not have told the margin apart from noise, so it is no evidence either way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

from ..analysis.curves import epochs_to_reach, last_finite

__all__ = [
    "BELOW_RESOLUTION",
    "DOES_NOT_HOLD",
    "HOLDS",
    "INCONCLUSIVE",
    "TIE",
    "UNTESTABLE",
    "Comparison",
    "Summary",
    "combine",
    "compare",
    "conjunction",
    "count_verdicts",
    "epochs_to_target",
    "last_finite",
    "power",
    "resolution",
    "seeds_needed",
    "summarize",
]

HOLDS = "holds here"
DOES_NOT_HOLD = "does not hold here"
INCONCLUSIVE = "inconclusive"
TIE = "no difference here"
UNTESTABLE = "untestable here"
BELOW_RESOLUTION = "below resolution"
K_SE = 2.0

Kind = Literal["superiority", "non_inferiority"]


@dataclasses.dataclass(frozen=True)
class Summary:
    """``n`` finite values, their mean and sample standard deviation (NaN when ``n < 2``)."""

    n: int
    mean: float
    std: float

    def fmt(self, scale: float = 1.0, digits: int = 2) -> str:
        """``"mean ± std"`` with ``scale`` applied (e.g. 100 for percent)."""
        if self.n == 0:
            return "n/a"
        if not math.isfinite(self.std):
            return f"{scale * self.mean:.{digits}f}"
        return f"{scale * self.mean:.{digits}f} ± {scale * self.std:.{digits}f}"


def summarize(values: Sequence[float | None]) -> Summary:
    """Mean and sample std (``ddof = 1``) of the finite values; ``None``/NaN are skipped."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Summary(0, math.nan, math.nan)
    mean = sum(xs) / n
    if n < 2:
        return Summary(n, mean, math.nan)
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return Summary(n, mean, math.sqrt(var))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One treatment-vs-baseline comparison and its verdict (see the module docstring)."""

    treatment: Summary
    baseline: Summary
    diff: float  # signed so that > 0 favours the treatment
    se: float
    lo: float
    hi: float
    margin: float
    kind: str
    verdict: str


def compare(
    treatment: Sequence[float | None],
    baseline: Sequence[float | None],
    *,
    higher_is_better: bool = True,
    margin: float = 0.01,
    kind: Kind = "superiority",
    k: float = K_SE,
    chance: float | None = None,
    ceiling: float | None = None,
    paired: bool = False,
    resolve: bool = False,
) -> Comparison:
    """Compare per-seed values of a treatment arm against a baseline arm.

    Args:
        treatment, baseline: one value per seed (``None``/NaN are dropped).
        higher_is_better: the metric's direction (accuracy: True; epochs, dead fraction: False).
        margin: the smallest difference that matters, in the metric's units.
        kind: ``"superiority"`` or ``"non_inferiority"``.
        k: half-width of the interval in standard errors.
        paired: values at the same index come from the same seed (same initial weights and batch
            order); the standard error is then that of the per-seed differences. Pairs with a
            missing value are dropped.
        chance: the metric's chance level (accuracy: 1 / classes). When neither arm's mean is above
            ``chance + margin`` nothing was learned: the comparison is untestable.
        ceiling: the best value the metric can take (accuracy: 1.0; for a lower-is-better metric
            the lowest). A baseline within ``margin`` of it leaves no headroom: untestable.
        resolve: an inconclusive result from fewer seeds than :func:`seeds_needed` for the margin
            (at the observed SD of the per-seed differences) becomes **below resolution**.
    Returns:
        A :class:`Comparison`; the verdict is inconclusive when either arm has fewer than 2 values,
        untestable when there is no headroom or both arms are at chance.
    """
    sign = 1.0 if higher_is_better else -1.0
    if paired:
        if len(treatment) != len(baseline):
            raise ValueError(
                f"paired comparison needs as many values per arm, got {len(treatment)} and {len(baseline)}"
            )
        pairs = [(x, y) for x, y in zip(treatment, baseline) if _finite(x) and _finite(y)]
        treatment, baseline = [x for x, _ in pairs], [y for _, y in pairs]
    t, b = summarize(treatment), summarize(baseline)
    if t.n < 2 or b.n < 2:
        return Comparison(t, b, math.nan, math.nan, math.nan, math.nan, margin, kind, INCONCLUSIVE)
    d = sign * (t.mean - b.mean)
    if paired:
        se = summarize([sign * (float(x) - float(y)) for x, y in zip(treatment, baseline)]).std / math.sqrt(t.n)
    else:
        se = math.sqrt(t.std**2 / t.n + b.std**2 / b.n)
    lo, hi = d - k * se, d + k * se
    if chance is not None and sign * (max(sign * t.mean, sign * b.mean) - sign * chance) <= margin:
        return Comparison(t, b, d, se, lo, hi, margin, kind, UNTESTABLE)
    if ceiling is not None and sign * (ceiling - b.mean) <= margin:
        return Comparison(t, b, d, se, lo, hi, margin, kind, UNTESTABLE)
    if kind == "superiority":
        if lo > 0:
            verdict = HOLDS
        elif hi < 0:
            verdict = DOES_NOT_HOLD
        elif -margin < lo and hi < margin:
            verdict = TIE
        else:
            verdict = INCONCLUSIVE
    elif kind == "non_inferiority":
        verdict = HOLDS if lo > -margin else DOES_NOT_HOLD if (d < -margin and hi < 0) else INCONCLUSIVE
    else:
        raise ValueError(f"kind must be 'superiority' or 'non_inferiority', got {kind!r}")
    cmp = Comparison(t, b, d, se, lo, hi, margin, kind, verdict)
    if resolve and verdict == INCONCLUSIVE:
        n, _, _, needed = resolution(cmp)
        if needed is not None and n < needed:
            cmp = dataclasses.replace(cmp, verdict=BELOW_RESOLUTION)
    return cmp


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def combine(verdicts: Sequence[str]) -> str:
    """One verdict for a claim made of several comparisons.

    Untestable comparisons are left out (all untestable: **untestable here**); when every other one is
    below resolution, so is the claim. Of the rest (below resolution counting as inconclusive):
    **holds here** when at least half hold and none does not hold; **does not hold here** when
    at least half do not hold and none holds; **no difference here** when ties and failures
    together make at least half, none holds and ties outnumber failures; otherwise (mixed or
    mostly inconclusive, or no comparison at all) **inconclusive**.
    """
    if verdicts and all(v == UNTESTABLE for v in verdicts):
        return UNTESTABLE
    verdicts = [v for v in verdicts if v != UNTESTABLE]
    n = len(verdicts)
    if n == 0:
        return INCONCLUSIVE
    if all(v == BELOW_RESOLUTION for v in verdicts):
        return BELOW_RESOLUTION
    holds = sum(v == HOLDS for v in verdicts)
    fails = sum(v == DOES_NOT_HOLD for v in verdicts)
    ties = sum(v == TIE for v in verdicts)
    if holds * 2 >= n and fails == 0:
        return HOLDS
    if fails * 2 >= n and holds == 0:
        return DOES_NOT_HOLD
    if (ties + fails) * 2 >= n and holds == 0 and ties > fails:
        return TIE
    return INCONCLUSIVE


def conjunction(verdicts: Sequence[str]) -> str:
    """One verdict for a claim that is the conjunction of sub-claims ("A and B").

    **holds here** when every part holds, **does not hold here** when any part does not hold,
    **untestable here** when any part is untestable (and none fails), **below resolution** when any
    part is (and none fails or is untestable), otherwise **inconclusive**.
    """
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == DOES_NOT_HOLD for v in verdicts):
        return DOES_NOT_HOLD
    if any(v == UNTESTABLE for v in verdicts):
        return UNTESTABLE
    if any(v == BELOW_RESOLUTION for v in verdicts):
        return BELOW_RESOLUTION
    return INCONCLUSIVE


def count_verdicts(verdicts: Sequence[str]) -> str:
    """``"2 hold, 1 do not hold, 0 inconclusive"`` (plus ties, below-resolution and untestable ones when
    there are any)."""
    holds = sum(v == HOLDS for v in verdicts)
    fails = sum(v == DOES_NOT_HOLD for v in verdicts)
    ties = sum(v == TIE for v in verdicts)
    below = sum(v == BELOW_RESOLUTION for v in verdicts)
    untestable = sum(v == UNTESTABLE for v in verdicts)
    text = (
        f"{holds} hold, {fails} do not hold, {len(verdicts) - holds - fails - ties - below - untestable} inconclusive"
    )
    if ties:
        text += f", {ties} no difference"
    if below:
        text += f", {below} below resolution"
    if untestable:
        text += f", {untestable} untestable"
    return text


def epochs_to_target(curve: Sequence[float | None], target: float, censor: int | None = None) -> int | None:
    """The first epoch (1-based) at which ``curve`` reaches ``target`` (``>=``); ``censor`` if never
    (see :func:`spikeforge.analysis.curves.epochs_to_reach`)."""
    return epochs_to_reach(curve, target, censor=censor)


TARGET_POWER = 0.8


def power(sd: float, margin: float, n: int, k: float = K_SE) -> float:
    """Probability that ``n`` paired seeds with per-seed differences of standard deviation ``sd``
    show a true effect of ``margin`` as "holds" (``d - k*se > 0``), normal approximation:
    ``Phi(margin * sqrt(n) / sd - k)``. ``sd == 0``: 1 (any effect is resolved exactly)."""
    if n < 1 or not math.isfinite(sd) or margin <= 0:
        return math.nan
    if sd == 0:
        return 1.0
    return NormalDist().cdf(margin * math.sqrt(n) / sd - k)


def seeds_needed(sd: float, margin: float, k: float = K_SE, target: float = TARGET_POWER) -> int | None:
    """The fewest paired seeds (at least 2) whose interval resolves a true effect of ``margin``
    with probability ``target``: ``ceil(((k + z_target) * sd / margin)^2)``; ``None`` when ``sd``
    is not finite (fewer than 2 seeds) or the margin is not positive."""
    if not math.isfinite(sd) or margin <= 0:
        return None
    n = math.ceil(((k + NormalDist().inv_cdf(target)) * sd / margin) ** 2 - 1e-9)
    return max(2, n)


def resolution(cmp: Comparison) -> tuple[int, float, float, int | None]:
    """``(n, sd, power, seeds needed)`` of a comparison at its margin: ``n`` seeds (the smaller arm), the SD of
    the per-seed differences recovered from its SE (``se * sqrt(n)``; for an unpaired comparison the SD a
    paired one with that SE would have), the :func:`power` of ``n`` seeds and :func:`seeds_needed` for 80%.
    NaN / ``None`` when fewer than 2 seeds."""
    n = min(cmp.treatment.n, cmp.baseline.n)
    if n < 2 or not math.isfinite(cmp.se):
        return n, math.nan, math.nan, None
    sd = cmp.se * math.sqrt(n)
    return n, sd, power(sd, cmp.margin, n), seeds_needed(sd, cmp.margin)
