"""Per-visit RECIST 1.1 overall responses (OVR) of a simulated subject, and the best overall response they show.

The trial stage draws a latent best response per subject (``BOR`` in
``truth/subjects.csv``). Here it becomes a course of assessments every 6 weeks
(+-3 days) until progression or censoring, whose responses follow one of a few
designed patterns. The true confirmed best overall response is part of the design
(the table below), not computed by the package's derivation
(:func:`biomarkers.outcomes.derive_bor`), so a test can hold one against the other.

=========  ==============  ===========================  ==================================
latent     pattern         responses (k assessments)    true BOR
=========  ==============  ===========================  ==================================
CR         constant        CR CR ... (k >= 2)           CR
CR         late response   PR CR CR ... (k >= 3)        CR
CR         NE between      CR NE CR ... (k >= 3)        CR (one NE may separate the two)
CR         CR unconfirmed  PR CR (k = 2)                PR (the CR, unconfirmed, confirms the PR)
PR         constant        PR PR ... (k >= 2)           PR
PR         late response   SD PR PR ... (k >= 3)        PR
PR         NE between      PR NE PR ... (k >= 3)        PR
SD         constant        SD ... (k >= 1)              SD
SD         PR unconfirmed  SD PR SD ... (k >= 3)        SD (the PR is never confirmed)
NE         constant        NE ... (k >= 1)              NE; PD when the subject progressed
PD         progression     none (early progression)     PD
=========  ==============  ===========================  ==================================

A single CR or PR (k = 1) cannot be confirmed: it counts as SD. A subject with no
assessment before progression is PD; one censored before any assessment, MISSING.
These answers hold only under the response windows of ``assets/outcomes.yaml``
that the pattern timing allows; :func:`check_windows` refuses any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ASSESSMENT_EVERY_DAYS", "ASSESSMENT_JITTER_DAYS", "Course", "assessment_days", "check_windows", "design_course"]

ASSESSMENT_EVERY_DAYS = 42
ASSESSMENT_JITTER_DAYS = 3


@dataclass(frozen=True)
class Course:
    """One subject's assessments: (study day, OVR) in order, the PD last when the subject progressed."""

    visits: list[tuple[int, str]]
    pattern: str
    bor: str  # the true best overall response (RECIST 1.1, confirmed)


def check_windows(adrs: dict) -> None:
    """The designed courses' answers need: confirmation on, consecutive assessments far enough apart to
    confirm, the first assessment late enough to count as SD, and one NE allowed between a response
    and its confirmation (``adrs`` is the section of ``assets/outcomes.yaml``)."""
    shortest_gap = ASSESSMENT_EVERY_DAYS - 2 * ASSESSMENT_JITTER_DAYS
    earliest = ASSESSMENT_EVERY_DAYS - ASSESSMENT_JITTER_DAYS
    problems = []
    if not adrs["confirmation"]:
        problems.append("adrs.confirmation must be true")
    if adrs["confirmation_min_days"] > shortest_gap:
        problems.append(f"adrs.confirmation_min_days must be at most {shortest_gap}")
    if adrs["sd_min_days"] > earliest:
        problems.append(f"adrs.sd_min_days must be at most {earliest}")
    if adrs["max_ne_between"] < 1:
        problems.append("adrs.max_ne_between must be at least 1")
    if problems:
        raise ValueError("the simulated response courses assume other RECIST windows: " + "; ".join(problems))


def assessment_days(rng: np.random.Generator, stop: int) -> list[int]:
    """Study days of the assessments before ``stop``: every 6 weeks, each +-3 days."""
    days = []
    day = ASSESSMENT_EVERY_DAYS
    while day < stop:
        days.append(day + int(rng.integers(-ASSESSMENT_JITTER_DAYS, ASSESSMENT_JITTER_DAYS + 1)))
        day += ASSESSMENT_EVERY_DAYS
    return [d for d in days if d < stop]


def _responses(latent: str, k: int, u: float) -> tuple[str, list[str]]:
    """(pattern, responses of the k assessments); ``u`` (uniform) picks among the patterns that fit."""
    if latent == "CR":
        if k >= 3 and u < 0.25:
            return "late response", ["PR"] + ["CR"] * (k - 1)
        if k >= 3 and u < 0.5:
            return "NE between", ["CR", "NE"] + ["CR"] * (k - 2)
        if k == 2 and u < 0.5:
            return "CR unconfirmed", ["PR", "CR"]
        return "constant", ["CR"] * k
    if latent == "PR":
        if k >= 3 and u < 0.25:
            return "late response", ["SD"] + ["PR"] * (k - 1)
        if k >= 3 and u < 0.5:
            return "NE between", ["PR", "NE"] + ["PR"] * (k - 2)
        return "constant", ["PR"] * k
    if latent == "SD":
        if k >= 3 and u < 0.25:
            return "PR unconfirmed", ["SD", "PR"] + ["SD"] * (k - 2)
        return "constant", ["SD"] * k
    if latent == "NE":
        return "constant", ["NE"] * k
    if latent == "PD" and k == 0:
        return "progression", []
    raise ValueError(f"no designed course for latent best response {latent!r} with {k} assessments")


def _true_bor(latent: str, pattern: str, k: int, progressed: bool) -> str:
    if latent in ("CR", "PR") and k >= 2:
        return "PR" if pattern == "CR unconfirmed" else latent
    if latent in ("CR", "PR", "SD") and k >= 1:
        return "SD"  # stable disease, or a single response that was never confirmed
    if progressed:
        return "PD"
    return "NE" if k else "MISSING"


def design_course(latent: str, days: list[int], *, progression_day: int | None, u: float) -> Course:
    """The course of a subject with latent best response ``latent``, assessed on ``days`` (none for PD:
    early progression), progressing on ``progression_day`` (None: censored)."""
    pattern, responses = _responses(latent, len(days), u)
    visits = list(zip(days, responses))
    if progression_day is not None:
        visits.append((progression_day, "PD"))
    return Course(visits, pattern, _true_bor(latent, pattern, len(days), progression_day is not None))
