"""The MSI status rule: which sites are scored, what normals do by chance, and the status from the score.

*Scored sites* are the long repeats (homopolymers >= ``score.min_homopolymer``
bases, other units repeated >= ``score.min_repeats`` times): the ones that shift
in MSI-H tumours. Short repeats are called and reported per class but do not
enter the score, so the score means the same for a default scan and for an
MSIsensor-like one (only long repeats), and a threshold travels between them.

The rule has two parts. The *null*: the per-site false-positive rate of scored
sites in normals (normal against normal, or against the pool of the other
normals), measured by ``msi baseline`` on >= 2 normals (an upper 95 % bound) or
taken from ``assets/msi.yaml``. A specimen is *not MSS* when its unstable scored
sites reach a count that normals would reach with probability <= the stated
false-positive rate (binomial over its evaluated scored sites) and its score is
above every normal's. It is *MSI-H* when, in addition, at least
``min_unstable_sites`` scored sites are unstable and the score is at least
``msi_h_score`` (and the not-MSS cut-off, when that is higher); otherwise it is
INDETERMINATE (MSI-L: MMR immunohistochemistry decides). Pure Python: no pandas
nor scipy, so the per-specimen call stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ...log import get_logger
from ._config import MsiSettings, SiteDefinition

__all__ = ["Rule", "MSI_H", "MSS", "INDETERMINATE", "NOT_EVALUABLE", "scored_mask", "site_classes", "scored_definition",
           "default_rule", "calibrated_rule", "decide", "null_critical_count", "upper_rate"]

log = get_logger("msi.rule")

MSI_H, MSS, INDETERMINATE, NOT_EVALUABLE = "MSI-H", "MSS", "INDETERMINATE", "NOT_EVALUABLE"
_UNIT_NAMES = {1: "mono", 2: "di", 3: "tri", 4: "tetra", 5: "penta", 6: "hexa"}


def scored_mask(unit_lens, repeats, settings: MsiSettings) -> list[bool]:
    """True for the sites that enter the MSI score (long repeats)."""
    hp, rep = settings.score.min_homopolymer, settings.score.min_repeats
    return [(k == 1 and r >= hp) or (k > 1 and r >= rep) for k, r in zip(unit_lens, repeats)]


def site_classes(unit_lens, scored) -> list[str]:
    """Repeat class of each site: unit length and long (scored) or short, e.g. ``mono long``."""
    return [f"{_UNIT_NAMES.get(int(k), f'unit{int(k)}')} {'long' if s else 'short'}" for k, s in zip(unit_lens, scored)]


def scored_definition(scan: dict | None, settings: MsiSettings) -> SiteDefinition | None:
    """The scored sites of a table scanned with ``scan`` (its ``##scan`` header): scan and score limits combined."""
    if not scan:
        return None
    try:
        return SiteDefinition(
            min_homopolymer=max(int(scan["min_homopolymer"]), settings.score.min_homopolymer),
            min_repeats=max(int(scan["min_repeats"]), settings.score.min_repeats),
            min_unit=int(scan["min_unit"]), max_unit=int(scan["max_unit"]),
            max_repeat_bases=int(scan["max_repeat_bases"]), flank=int(scan["flank"]))
    except (KeyError, ValueError):
        return None


def _describe(d: SiteDefinition) -> str:
    return (f"homopolymers >= {d.min_homopolymer}, {d.min_unit}-{d.max_unit} base units x >= {d.min_repeats}, "
            f"<= {d.max_repeat_bases} bases, flank {d.flank}")


@dataclass(frozen=True)
class Rule:
    """A calibrated status rule; ``source`` says where its null came from (and any warning)."""

    mode: str
    null_site_rate: float       # per-site false-positive rate of scored sites in normals (upper 95 % bound)
    max_null_score: float       # the highest score a normal reached in the calibration (0 for the defaults)
    false_positive_rate: float  # stated probability that a normal-like specimen is called not-MSS
    min_unstable_sites: int
    msi_h_score: float
    source: str
    comparisons: int = 0        # normal comparisons behind the null
    null_sites: int = 0         # scored site evaluations in them
    null_unstable: int = 0      # of which unstable

    def to_header(self) -> str:
        """One ``##rule_<mode>=`` header value (key=value pairs; the source last, free text)."""
        items = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name not in ("mode", "source")]
        return ";".join(items) + f";source={self.source}"

    @classmethod
    def from_header(cls, text: str, mode: str) -> Rule:
        head, _, source = text.partition(";source=")
        values = dict(item.split("=", 1) for item in head.split(";") if item)
        types = {f.name: f.type for f in fields(cls)}
        kwargs = {k: (int(v) if types[k] in ("int", int) else float(v)) for k, v in values.items() if k in types}
        return cls(mode=mode, source=source, **kwargs)


def default_rule(mode: str, settings: MsiSettings, scan: dict | None) -> Rule:
    """The rule of ``assets/msi.yaml``, with a warning when the site table's scored sites are not the ones it was measured on."""
    rule = settings.rule
    source = "assets/msi.yaml defaults"
    defined = scored_definition(scan, settings)
    if defined is None:
        warning = "the site table does not say how it was scanned"
    elif defined != rule.calibrated_for:
        warning = (f"the defaults were calibrated for scored sites with {_describe(rule.calibrated_for)}; this site table's are "
                   f"{_describe(defined)}")
    else:
        warning = ""
    if warning:
        warning += "; calibrate with `biomarkers msi baseline` on >= 2 normals"
        log.warning("msi rule: %s", warning)
        source += f" (WARNING: {warning})"
    rate = rule.null_site_rate_paired if mode == "paired" else rule.null_site_rate_tumor_only
    return Rule(mode=mode, null_site_rate=rate, max_null_score=0.0, false_positive_rate=rule.false_positive_rate,
                min_unstable_sites=rule.min_unstable_sites, msi_h_score=rule.msi_h_score, source=source)


def calibrated_rule(mode: str, nulls: list[tuple[int, int]], settings: MsiSettings, source: str) -> Rule | None:
    """The rule from normal comparisons, ``(unstable, evaluated)`` scored sites each; None when none was evaluable."""
    nulls = [(u, n) for u, n in nulls if n]
    if not nulls:
        return None
    unstable = sum(u for u, _ in nulls)
    evaluated = sum(n for _, n in nulls)
    rule = settings.rule
    return Rule(mode=mode, null_site_rate=round(upper_rate(unstable, evaluated), 8),
                max_null_score=round(max(100.0 * u / n for u, n in nulls), 6), false_positive_rate=rule.false_positive_rate,
                min_unstable_sites=rule.min_unstable_sites, msi_h_score=rule.msi_h_score, source=source,
                comparisons=len(nulls), null_sites=evaluated, null_unstable=unstable)


def _log_pmf_terms(n: int, p: float):
    """log P(X = k) for k = 0, 1, ... of Binomial(n, p), 0 < p < 1."""
    log_q = math.log1p(-p)
    log_ratio = math.log(p) - log_q
    value = n * log_q
    for k in range(n + 1):
        yield value
        if k < n:
            value += math.log(n - k) - math.log(k + 1) + log_ratio


def null_critical_count(n: int, p: float, fpr: float) -> int:
    """Smallest k with P(X >= k) <= ``fpr`` for X ~ Binomial(n, p): unstable sites that normals rarely reach."""
    if p <= 0.0:
        return 1
    if p >= 1.0:
        return n + 1
    cdf = 0.0
    for k, log_pmf in enumerate(_log_pmf_terms(n, p)):
        if 1.0 - cdf <= fpr:
            return k
        cdf += math.exp(log_pmf)
    return n + 1


def _cdf(k: int, n: int, p: float) -> float:
    total = 0.0
    for i, log_pmf in enumerate(_log_pmf_terms(n, p)):
        if i > k:
            break
        total += math.exp(log_pmf)
    return total


def upper_rate(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen k times in n (bisection; 3/n-like when k = 0)."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _cdf(k, n, mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def decide(unstable: int, evaluated: int, rule: Rule) -> tuple[str, float, float]:
    """(status, not-MSS cut-off %, MSI-H cut-off %) of a specimen with ``unstable`` of ``evaluated`` scored sites."""
    if evaluated == 0:
        return NOT_EVALUABLE, float("nan"), float("nan")
    k_null = null_critical_count(evaluated, rule.null_site_rate, rule.false_positive_rate)
    # above every normal's score too: the binomial assumes sites independent, normals can be noisier than that
    k_null = max(k_null, math.floor(rule.max_null_score * evaluated / 100.0 + 1e-9) + 1)
    mss_cut = 100.0 * k_null / evaluated
    msi_h_cut = max(rule.msi_h_score, mss_cut)
    score = 100.0 * unstable / evaluated
    if unstable < k_null:
        status = MSS
    elif score >= msi_h_cut and unstable >= rule.min_unstable_sites:
        status = MSI_H
    else:
        status = INDETERMINATE
    return status, round(mss_cut, 6), round(msi_h_cut, 6)

