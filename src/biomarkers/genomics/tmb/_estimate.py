"""TMB (mutations per megabase) with its exact Poisson confidence interval."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.special import gammaincinv

from ...errors import InputError

__all__ = ["TmbEstimate", "poisson_interval", "tmb_estimate"]


@dataclass(frozen=True)
class TmbEstimate:
    n_counted: int
    callable_bases: int
    tmb: float
    ci_lower: float
    ci_upper: float
    tmb_high: bool

    @property
    def callable_mb(self) -> float:
        return self.callable_bases / 1e6


def poisson_interval(count: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood 1936) interval of a Poisson mean given one observed count.

    lower = chi2.ppf(alpha/2, 2k)/2 and upper = chi2.ppf(1-alpha/2, 2k+2)/2, written with the
    regularized incomplete gamma inverse (the same numbers; scipy.stats costs seconds to import).
    """
    alpha = 1.0 - level
    lower = 0.0 if count == 0 else float(gammaincinv(count, alpha / 2))
    upper = float(gammaincinv(count + 1, 1 - alpha / 2))
    return lower, upper


def tmb_estimate(n_counted: int, callable_bases: int, *, tmb_high: float, level: float = 0.95) -> TmbEstimate:
    """TMB = counted variants / callable megabases, with the interval scaled the same way."""
    if callable_bases <= 0:
        raise InputError("the callable territory is empty (no target base reaches the depth threshold): TMB is undefined",
                         field="callable territory", value=callable_bases)
    mb = callable_bases / 1e6
    lower, upper = poisson_interval(n_counted, level)
    value = n_counted / mb
    return TmbEstimate(n_counted, callable_bases, value, lower / mb, upper / mb, value >= tmb_high)
