"""The filter funnel: the first filter (``_rules.FILTERS``, in order) each allele fails, vectorized over alleles.

Duplicates are found among PASS alleles on the normalized (CHROM, POS, REF, ALT); a
variant sits in a territory (coding BED, callable bases) when its position (POS of the
trimmed allele, the anchor base of an indel) does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._alleles import variant_type
from ._bed import Regions
from ._rules import FILTERS, TmbRules

__all__ = ["first_failed_filters", "funnel"]


def _contains(regions: Regions, chrom_codes: tuple[np.ndarray, np.ndarray], pos0: np.ndarray) -> np.ndarray:
    out = np.zeros(len(pos0), dtype=bool)
    codes, uniques = chrom_codes
    for k, contig in enumerate(uniques):
        sel = codes == k
        out[sel] = regions.contains(contig, pos0[sel])
    return out


def _variant_types(refs: tuple[np.ndarray, pd.Index], alts: tuple[np.ndarray, pd.Index]) -> np.ndarray:
    """VARIANT_TYPE from the factorized REF and ALT (lengths are taken once per distinct allele)."""
    (ref_codes, ref_uniques), (alt_codes, alt_uniques) = refs, alts
    ref_len = np.fromiter(map(len, ref_uniques), dtype=np.int64, count=len(ref_uniques))[ref_codes]
    alt_len = np.fromiter(map(len, alt_uniques), dtype=np.int64, count=len(alt_uniques))[alt_codes]
    kinds = np.array(["SNV", "MNV", ""], dtype=object)
    out = kinds[np.where(ref_len == alt_len, np.where(ref_len == 1, 0, 1), 2)]
    for i in np.flatnonzero(ref_len != alt_len).tolist():
        out[i] = variant_type(ref_uniques[ref_codes[i]], alt_uniques[alt_codes[i]])
    return out


def _duplicates(pos: np.ndarray, chrom_codes, ref_codes, alt_codes, among: np.ndarray) -> np.ndarray:
    """Alleles ``among`` the given ones whose (CHROM, POS, REF, ALT) an earlier one of them already had."""
    n = len(pos)
    duplicate = np.zeros(n, dtype=bool)
    # integer codes hash much faster than the strings themselves
    columns = [chrom_codes[0], pos, ref_codes[0], alt_codes[0]]
    sizes = [len(chrom_codes[1]), int(pos.max(initial=0)) + 1, len(ref_codes[1]), len(alt_codes[1])]
    if n and pos.min() >= 0 and np.prod(sizes, dtype=object) < 2**63:
        # the usual case: the four codes packed into one int64 key (mixed radix, exact)
        key = np.zeros(n, dtype=np.int64)
        for values, size in zip(columns, sizes):
            key = key * size + values
        duplicate[among] = pd.Series(key[among]).duplicated(keep="first").to_numpy()
    else:
        coded = pd.DataFrame(dict(zip(["CHROM", "POS", "REF", "ALT"], columns)), copy=False)
        duplicate[among] = coded.loc[among].duplicated(keep="first").to_numpy()
    return duplicate


def first_failed_filters(frame: pd.DataFrame, rules: TmbRules, *, tumor_only: bool, callable_regions: Regions,
                         coding: Regions | None, hotspots: set | None, annotation_kind: str) -> pd.DataFrame:
    """First failed filter of every allele, in the fixed order (vectorized over alleles)."""
    v = rules.variants
    n = len(frame)
    passed_filter = np.equal(frame["FILTER"].to_numpy(), "PASS") if v.pass_only else np.ones(n, dtype=bool)
    keys = ["CHROM", "POS", "REF", "ALT"]
    chrom_codes = pd.factorize(frame["CHROM"])
    ref_codes = pd.factorize(frame["REF"])
    alt_codes = pd.factorize(frame["ALT"])
    duplicate = _duplicates(frame["POS"].to_numpy(), chrom_codes, ref_codes, alt_codes, passed_filter)
    depth = frame["DEPTH"].astype("float64").to_numpy()
    alt_reads = frame["ALT_READS"].astype("float64").to_numpy()
    vaf = frame["VAF"].to_numpy()
    pop = frame["POPULATION_AF"].to_numpy()
    with np.errstate(invalid="ignore"):
        low_depth = np.isnan(depth) | (depth < v.min_depth)
        low_alt = np.isnan(alt_reads) | (alt_reads < v.min_alt_reads)
        low_vaf = np.isnan(vaf) | (vaf < v.min_vaf)
        population = tumor_only & ~np.isnan(pop) & (pop > rules.population.max_af)
    use_hotspots = bool(hotspots) and tumor_only and rules.hotspots.remove_in_tumor_only
    hotspot = np.zeros(n, dtype=bool)
    if use_hotspots:
        hotspot = np.fromiter(((c, p, r, a) in hotspots for c, p, r, a in frame[keys].itertuples(index=False, name=None)),  # type: ignore[operator]
                              dtype=bool, count=n)
    pos0 = frame["POS"].to_numpy() - 1
    nonsyn = set(rules.consequences.nonsynonymous)
    syn = set(rules.consequences.synonymous)
    if annotation_kind == "NONE":
        coding_ok = _contains(coding, chrom_codes, pos0)  # type: ignore[arg-type]
        is_syn = np.zeros(n, dtype=bool)
    else:
        codes, terms = pd.factorize(frame["CONSEQUENCE"])  # None -> -1
        term_syn = np.array([t in syn for t in terms] + [False], dtype=bool)
        term_nonsyn = np.array([t in nonsyn for t in terms] + [False], dtype=bool)
        is_syn = term_syn[codes]
        coding_ok = term_nonsyn[codes] | is_syn
    not_callable = ~_contains(callable_regions, chrom_codes, pos0)
    conditions = [~passed_filter, duplicate, low_depth, low_alt, low_vaf, population, hotspot, ~coding_ok,
                  is_syn & (not v.count_synonymous), not_callable]
    names = np.array(["filter", "duplicate", "depth", "alt_reads", "vaf", "population", "hotspot", "not_coding",
                      "synonymous", "not_callable", None], dtype=object)
    failed_index = np.select(conditions, list(range(len(conditions))), default=len(conditions))
    failed = names[failed_index]
    out = pd.DataFrame({
        "CHROM": frame["CHROM"], "POS": frame["POS"], "REF": frame["REF"], "ALT": frame["ALT"],
        "VARIANT_TYPE": _variant_types(ref_codes, alt_codes),
        "FILTER": frame["FILTER"], "DEPTH": frame["DEPTH"], "ALT_READS": frame["ALT_READS"], "VAF": frame["VAF"],
        "POPULATION_AF": frame["POPULATION_AF"], "CONSEQUENCE": frame["CONSEQUENCE"],
        "COUNTED": failed_index == len(conditions),
        "FIRST_FAILED_FILTER": failed,
    }, copy=False)  # no copy, no consolidation of the columns into 2-D blocks (a full copy of the table)
    out["COUNTED"] = out["COUNTED"].astype(bool)
    return out


def funnel(variants: pd.DataFrame) -> dict[str, int]:
    """How many variants each filter removed (N_<FILTER>), and how many were counted."""
    counts = variants["FIRST_FAILED_FILTER"].value_counts()
    out = {"N_VARIANTS": int(len(variants))}
    for name in FILTERS:
        out[f"N_{name.upper()}"] = int(counts.get(name, 0))
    out["N_COUNTED"] = int(variants["COUNTED"].sum())
    return out
