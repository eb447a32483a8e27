"""Consequences from VEP (``CSQ``) or SnpEff (``ANN``), read from the header-declared layout.

The most severe consequence of the ALT allele across all transcripts decides whether a
variant is coding. VEP writes indel alleles without the shared first base ('-' for a
deletion), SnpEff writes the ALT as in the record: both are matched to the split ALT; if
no annotation names the allele (some annotators write one entry for all alleles) every
entry of the record is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pysam

from ._rules import TmbRules

__all__ = ["Annotation", "detect_annotation", "vep_allele"]

# VEP: "... Format: Allele|Consequence|..."; SnpEff: "Functional annotations: 'Allele | Annotation | ...'"
_FORMAT_RE = re.compile(r"(?:Format|annotations)\s*:\s*['\"]?([^'\"]+)['\"]?", re.IGNORECASE)


@dataclass
class Annotation:
    kind: str  # "VEP", "SNPEFF" or "NONE"
    tag: str | None
    fields: list[str]
    allele_index: int
    consequence_index: int
    rank: dict[str, int]
    population_indexes: list[int]

    def most_severe(self, value: str | None, alt: str, vep_alt: str) -> str | None:
        """Most severe consequence of ``alt`` in one record's annotation value."""
        if not value:
            return None
        matched: list[str] = []
        everything: list[str] = []
        want = vep_alt if self.kind == "VEP" else alt
        a_i, c_i = self.allele_index, self.consequence_index
        cut = max(a_i, c_i) + 1
        for entry in value.split(","):
            parts = entry.split("|", cut)
            if len(parts) <= c_i:
                continue
            terms = parts[c_i]
            everything.append(terms)
            if parts[a_i] == want:
                matched.append(terms)
        candidates = matched or everything
        best, best_rank = None, len(self.rank) + 1
        unranked = len(self.rank)
        rank = self.rank
        for terms in candidates:
            for term in (terms.split("&") if "&" in terms else (terms,)):
                r = rank.get(term, unranked)
                if r < best_rank and term:
                    best, best_rank = term, r
        return best

    def population_af(self, value: str | None, alt: str, vep_alt: str) -> float | None:
        """Largest population allele frequency of ``alt`` in the configured CSQ fields."""
        if not value or not self.population_indexes:
            return None
        best = None
        entries = [e.split("|") for e in value.split(",")]
        matched = [p for p in entries if len(p) > self.allele_index and p[self.allele_index] == vep_alt]
        for parts in matched or entries:
            for i in self.population_indexes:
                if i < len(parts) and parts[i]:
                    for piece in parts[i].split("&"):
                        try:
                            af = float(piece)
                        except ValueError:
                            continue
                        best = af if best is None else max(best, af)
        return best


def detect_annotation(header: pysam.VariantHeader, rules: TmbRules) -> Annotation:
    """Find the annotation the VCF header declares (VEP CSQ first, then SnpEff ANN)."""
    severity = rules.consequences.severity
    rank = {term: i for i, term in enumerate(severity)}
    for tag, kind in (("CSQ", "VEP"), ("ANN", "SNPEFF")):
        if tag not in header.info:
            continue
        description = header.info[tag].description or ""
        match = _FORMAT_RE.search(description)
        if not match:
            continue
        fields = [f.strip() for f in match.group(1).split("|")]
        lower = [f.lower() for f in fields]
        allele_name = "allele"
        consequence_name = "consequence" if kind == "VEP" else "annotation"
        if allele_name not in lower or consequence_name not in lower:
            continue
        population = [fields.index(f) for f in rules.population.csq_fields if f in fields] if kind == "VEP" else []
        return Annotation(kind, tag, fields, lower.index(allele_name), lower.index(consequence_name), rank, population)
    return Annotation("NONE", None, [], -1, -1, rank, [])


def vep_allele(ref: str, alts: tuple[str, ...], alt: str) -> str:
    """The allele string VEP writes for ``alt``: the first base is dropped when REF and
    every ALT share it (an indel record), and an empty remainder becomes '-'."""
    if ref and all(a and a[0] == ref[0] for a in alts):
        trimmed = alt[1:]
        return trimmed or "-"
    return alt
