"""Score expression signatures per sample, with the genes used and missing.

Expression is brought to one linear scale per matrix: TPM as given (or from Salmon),
TPM from counts and gene lengths, or counts per million when no lengths are given; the
choice is recorded in every row (``NORMALIZATION``). Only the library-size (or
length-weighted) totals need the whole matrix; everything else touches the few hundred
signature genes, so scoring a 60,000-gene matrix costs about one pass over it.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError
from ..log import get_logger
from ._genemap import GeneMap, load_gene_map, match_genes
from ._signatures import Signature, load_signatures

__all__ = ["score_signatures", "normalization_of", "SCORE_COLUMNS", "SCORED", "NOT_SCORED"]

log = get_logger("tme")

SCORED = "SCORED"
NOT_SCORED = "NOT_SCORED"
SCORE_COLUMNS = [
    "SAMPLE", "SIGNATURE", "SIGNATURE_NAME", "SCORE", "STATUS", "METHOD", "TRANSFORM", "NORMALIZATION",
    "N_GENES", "N_GENES_USED", "GENES_USED", "GENES_MISSING", "N_HOUSEKEEPING_USED", "HOUSEKEEPING_MISSING", "NOTE",
]


def normalization_of(adata: ad.AnnData) -> str:
    """How the matrix becomes linear-scale expression: TPM or CPM, and from what."""
    info = adata.uns.get("expression", {})
    if info.get("values") == "tpm":
        return "TPM (Salmon, summed per gene)" if info.get("format") == "salmon" else "TPM (as given)"
    if "length" in adata.var and np.isfinite(adata.var["length"].to_numpy()).any():
        return "TPM (from counts and gene lengths)"
    return "CPM (from counts; no gene lengths)"


def _linear(adata: ad.AnnData, columns: np.ndarray) -> np.ndarray:
    """TPM or CPM of the given gene columns, samples x len(columns)."""
    info = adata.uns.get("expression", {})
    X = adata.X
    sub = np.asarray(X[:, columns], dtype=np.float64)
    if info.get("values") == "tpm":
        return sub
    if "length" in adata.var:
        lengths = adata.var["length"].to_numpy(dtype=np.float64)
        known = np.isfinite(lengths)
        if known.any():
            inverse = np.where(known, 1.0 / np.where(known, lengths, 1.0), 0.0)
            totals = np.asarray(X @ inverse, dtype=np.float64).ravel()   # sum over genes of count / length
            rate = sub * np.where(known[columns], inverse[columns], np.nan)
            return _per_million(rate, totals, adata)
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    return _per_million(sub, totals, adata)


def _per_million(values: np.ndarray, totals: np.ndarray, adata: ad.AnnData) -> np.ndarray:
    empty = totals <= 0
    if empty.any():
        sample = adata.obs_names[int(np.flatnonzero(empty)[0])]
        raise InputError("sample has no counts (every gene is 0)", file=adata.uns.get("expression", {}).get("file"),
                         field=str(sample))
    return values / totals[:, None] * 1e6


def score_signatures(adata: ad.AnnData, signatures: Sequence[Signature] | None = None, *,
                     gene_map: GeneMap | None = None) -> pd.DataFrame:
    """One row per sample and signature: score, status, genes used and missing.

    ``adata`` comes from :func:`read_expression` or :func:`read_salmon`. A signature with
    more missing genes than its ``max_missing`` (or housekeeping genes than
    ``max_missing_housekeeping``) is NOT_SCORED with a note saying why.
    """
    signatures = tuple(signatures) if signatures is not None else load_signatures()
    gene_map = gene_map or load_gene_map()
    file = adata.uns.get("expression", {}).get("file")
    wanted = list(dict.fromkeys(g for s in signatures for g in s.all_genes))
    match = match_genes(adata.var_names, wanted, gene_map)
    if not match.rows:
        raise InputError(f"no gene of any signature found among the matrix's {match.n_ids:,} gene IDs "
                         f"({match.n_matched_ids} match the gene map): are they Ensembl IDs or HGNC symbols? "
                         "A fuller table can be given with --gene-map", file=file, field="gene_id")
    log.info("%s: %d of %d signature genes found among %s gene IDs (%s IDs)", file, len(match.rows), len(wanted),
             f"{match.n_ids:,}", match.id_kind)
    found = [s for s in wanted if s in match.rows]
    columns = np.array(sorted({r for s in found for r in match.rows[s]}), dtype=np.int64)
    position = {c: i for i, c in enumerate(columns)}
    linear = _linear(adata, columns)
    # one column per signature gene: rows that map to the same gene are summed
    gene_values = np.column_stack([linear[:, [position[r] for r in match.rows[s]]].sum(axis=1) for s in found])
    unknown_length = np.isnan(gene_values).all(axis=0)
    present = {s: i for i, s in enumerate(found) if not unknown_length[i]}
    normalization = normalization_of(adata)
    samples = adata.obs_names.astype(str).to_numpy()
    frames = [_score_one(sig, gene_values, present, samples, normalization) for sig in signatures]
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]


def _transform(values: np.ndarray, sig: Signature) -> np.ndarray:
    return np.log(values + sig.pseudocount) / np.log(sig.log_base)


def _score_one(sig: Signature, gene_values: np.ndarray, present: dict[str, int], samples: np.ndarray,
               normalization: str) -> pd.DataFrame:
    used = [g for g in sig.genes if g in present]
    missing = [g for g in sig.genes if g not in present]
    hk_used = [g for g in sig.housekeeping if g in present]
    hk_missing = [g for g in sig.housekeeping if g not in present]
    notes = []
    if len(missing) > sig.max_missing:
        notes.append(f"{len(missing)} of {len(sig.genes)} genes missing (tolerance {sig.max_missing})")
    if sig.housekeeping and len(hk_missing) > sig.max_missing_housekeeping:
        notes.append(f"{len(hk_missing)} of {len(sig.housekeeping)} housekeeping genes missing "
                     f"(tolerance {sig.max_missing_housekeeping})")
    n = len(samples)
    if notes:
        score = np.full(n, np.nan)
        status = NOT_SCORED
        note = "not scored: " + "; ".join(notes)
    else:
        status = SCORED
        note = f"{len(missing)} missing gene(s) left out" if missing else ""
        values = _transform(gene_values[:, [present[g] for g in used]], sig)
        if sig.method == "mean":
            score = values.mean(axis=1)
        elif sig.method == "geometric_mean":
            score = np.exp(values.mean(axis=1))
        elif sig.method == "weighted_sum_housekeeping":
            housekeeping = _transform(gene_values[:, [present[g] for g in hk_used]], sig).mean(axis=1)
            weights = np.array([w for g, w in zip(sig.genes, sig.weights) if g in present])
            score = (values - housekeeping[:, None]) @ weights
        else:  # the schema allows no other method
            raise ValueError(f"unknown method {sig.method}")
    return pd.DataFrame({
        "SAMPLE": samples, "SIGNATURE": sig.id, "SIGNATURE_NAME": sig.name, "SCORE": score, "STATUS": status,
        "METHOD": sig.method, "TRANSFORM": sig.transform_text, "NORMALIZATION": normalization,
        "N_GENES": len(sig.genes), "N_GENES_USED": len(used) if status == SCORED else 0,
        "GENES_USED": ",".join(used), "GENES_MISSING": ",".join(missing),
        "N_HOUSEKEEPING_USED": len(hk_used), "HOUSEKEEPING_MISSING": ",".join(hk_missing), "NOTE": note,
    })
