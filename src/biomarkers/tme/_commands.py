"""The file-level verbs the CLI, the engine step and Nextflow call: score an expression file
into per-specimen parts, collect the parts, read the pathology table, check eligibility.

Every output goes through ``schemas.write_table`` (declared in ``schemas/tables/tme.py``):
checked, with its provenance, written under a temporary name and renamed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .. import names as N
from ..errors import InputError
from ..log import get_logger
from ..protocol import load_protocol
from ..schemas import concat_parts, part_table, read_table, write_table
from ..trialdata import load_subjects
from ._eligibility import check_eligibility, load_eligibility_rules
from ._expression import read_expression, read_salmon
from ._genemap import load_gene_map
from ._pathology import read_pathology
from ._score import score_signatures
from ._signatures import load_signatures

__all__ = ["score_file", "write_parts", "score_to_parts", "collect", "pathology_to_table", "eligibility_to_table",
           "SIGNATURES_TABLE", "PATHOLOGY_TABLE", "ELIGIBILITY_TABLE"]

log = get_logger("tme")

SIGNATURES_TABLE, PATHOLOGY_TABLE, ELIGIBILITY_TABLE = "tme.signatures", "pathology.results", "tme.eligibility"
_SAMPLE_KEYS = ("sample", "subject", "specimen", "timepoint")


def _read_samples(path: Path) -> list[dict[str, str]]:
    """A sample table: CSV with columns sample, subject, specimen, timepoint (what Nextflow hands a task)."""
    from ..io import read_csv_rows

    return read_csv_rows(path, what="sample table", required=_SAMPLE_KEYS, known=_SAMPLE_KEYS, known_from="sample, subject, specimen, timepoint")


def score_file(path: str | Path, samples: Sequence[Mapping[str, str]] | str | Path, *, values: str, studyid: str,
               gene_lengths: str | Path | None = None, gene_map: str | Path | None = None,
               signatures: str | Path | None = None, tx2gene: str | Path | None = None) -> pd.DataFrame:
    """``tme.signatures`` rows of the specimens in one expression file.

    ``samples`` names each specimen's column (``sample``) and its ``subject``,
    ``specimen`` and ``timepoint``; a column of the file that is no listed specimen, or a
    listed sample absent from the file, is an input error. A Salmon ``quant.sf`` holds one
    sample (its TPM is used whatever ``values`` says).
    """
    path = Path(path)
    if isinstance(samples, (str, Path)):
        samples = _read_samples(Path(samples))
    if not samples:
        raise InputError("no sample of this file is listed", file=path, field="sample")
    by_sample = {}
    for entry in samples:
        missing = [k for k in _SAMPLE_KEYS if not entry.get(k)]
        if missing:
            raise InputError("sample entry lacks a value", file=path, field=missing[0])
        if entry["sample"] in by_sample:
            raise InputError("sample listed twice", file=path, field=entry["sample"])
        by_sample[entry["sample"]] = entry
    if path.name.endswith(".sf"):
        if len(by_sample) != 1:
            raise InputError("a quant.sf file holds one sample", file=path, field="sample")
        adata = read_salmon({next(iter(by_sample)): path}, tx2gene=tx2gene)
    else:
        adata = read_expression(path, values=values, gene_lengths=gene_lengths)
    in_file = list(adata.obs_names.astype(str))
    unknown = [s for s in in_file if s not in by_sample]
    if unknown:
        raise InputError(f"sample matches no specimen of the samplesheet ({len(unknown)} of {len(in_file)} columns)",
                         file=path, field=unknown[0])
    absent = [s for s in by_sample if s not in set(in_file)]
    if absent:
        raise InputError("the samplesheet lists this sample, the file has no such column", file=path, field=absent[0])
    scores = score_signatures(adata, load_signatures(signatures), gene_map=load_gene_map(gene_map))
    keys = pd.DataFrame([{N.STUDYID: studyid, N.USUBJID: e["subject"], N.SPECIMEN_ID: e["specimen"],
                          N.TIMEPOINT: e["timepoint"], "SAMPLE": s} for s, e in by_sample.items()])
    out = keys.merge(scores, on="SAMPLE", how="inner", validate="one_to_many")
    out["SOURCE_FILE"] = path.name
    return out


def write_parts(scores: pd.DataFrame, outdir: str | Path, *, provenance: dict | None = None) -> list[Path]:
    """``<outdir>/<specimen>.signatures.parquet`` for each specimen, declared and written atomically."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory(prefix=".tme-part.", dir=outdir) as tmp:
        for specimen, frame in scores.groupby(N.SPECIMEN_ID, sort=True):
            written = write_table(frame, SIGNATURES_TABLE, Path(tmp) / str(specimen), provenance=provenance)
            final = outdir / f"{specimen}.signatures.parquet"
            os.replace(written, final)
            paths.append(final)
    return paths


def score_to_parts(path: str | Path, outdir: str | Path, *, samples: Sequence[Mapping[str, str]] | str | Path, values: str,
                   gene_lengths: str | Path | None = None, gene_map: str | Path | None = None,
                   signatures: str | Path | None = None, tx2gene: str | Path | None = None,
                   protocol: str | Path | None = None) -> pd.DataFrame:
    """Score one expression file and write its per-specimen parts; return the scores."""
    study = load_protocol(protocol)
    studyid = study.studyid
    scores = score_file(path, samples, values=values, studyid=studyid, gene_lengths=gene_lengths, gene_map=gene_map,
                        signatures=signatures, tx2gene=tx2gene)
    provenance = {"values": values, "gene_lengths": str(gene_lengths) if gene_lengths else None,
                  "signatures": str(signatures or "assets/signatures.yaml"), "gene_map": str(gene_map) if gene_map else None}
    for subject, specimen in scores[[N.USUBJID, N.SPECIMEN_ID]].drop_duplicates().itertuples(index=False):
        study.check_ids(subject=subject, specimen=specimen, subject_field="subject", specimen_field="specimen")
    write_parts(scores, outdir, provenance=provenance)
    return scores


def collect(parts: Sequence[str | Path], outdir: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Collect per-specimen parts into ``<outdir>/tme/signatures.parquet`` and the heatmap."""
    paths = []
    for path in map(Path, parts):
        name = part_table(path)
        if name != SIGNATURES_TABLE:
            raise InputError(f"holds table {name!r}, not a signature part ({SIGNATURES_TABLE})", file=path)
        paths.append(path)
    scores = concat_parts(paths, SIGNATURES_TABLE)
    dup = scores[scores.duplicated([N.SPECIMEN_ID, "SIGNATURE"])]
    if len(dup):
        raise InputError("two parts for the same specimen", field=N.SPECIMEN_ID, value=dup[N.SPECIMEN_ID].iloc[0])
    out = {"signatures": write_table(scores, SIGNATURES_TABLE, outdir)}
    if plots and len(scores):
        from ._plots import plot_signatures

        out.update(plot_signatures(scores, Path(outdir) / "tme"))
    log.info("tme: %d specimens x %d signatures -> %s", scores[N.SPECIMEN_ID].nunique(), scores["SIGNATURE"].nunique(),
             out["signatures"])
    return out


def pathology_to_table(path: str | Path, outdir: str | Path, *, protocol: str | Path | None = None,
                       subjects: str | Path | None = None) -> Path:
    """Read and check the pathology/central-lab table; write ``<outdir>/pathology/results.parquet``.

    ``subjects`` (the randomization list), when given, must hold every subject the table names.
    """
    proto = load_protocol(protocol)
    if subjects is not None:
        subjects = set(load_subjects(subjects, proto)[N.USUBJID])
    results = read_pathology(path)
    timepoints = proto.timepoint_ids()
    for row in results.itertuples(index=False):
        where = {"file": path, "row": f"line {row.SOURCE_LINE}"}
        if not proto.usubjid_pattern.match(getattr(row, N.USUBJID)):
            raise InputError(f"subject does not match the study's USUBJID pattern {proto.usubjid_pattern.pattern}",
                             field="subject", **where)
        if subjects is not None and getattr(row, N.USUBJID) not in subjects:
            raise InputError("subject is not in the randomization list", field="subject", **where)
        if getattr(row, N.TIMEPOINT) not in timepoints:
            raise InputError("unknown timepoint (not in the protocol)", field="timepoint", value=getattr(row, N.TIMEPOINT), **where)
    results.insert(0, N.STUDYID, proto.studyid)
    return write_table(results, PATHOLOGY_TABLE, outdir, provenance={"source": Path(path).name})


def eligibility_to_table(results: str | Path, outdir: str | Path, *, subjects: str | Path,
                         msi: str | Path | None = None, rules: str | Path | None = None,
                         protocol: str | Path | None = None, plots: bool = True) -> dict[str, Path]:
    """``<outdir>/tme/eligibility.parquet`` (and its plots in ``tme/``) from ``pathology/results.parquet``, the
    randomization list (``subjects``: USUBJID, SITEID, ARMCD, STRATUM, RANDDT) and the MSI table."""
    proto = load_protocol(protocol)
    studyid = proto.studyid
    subjects_source = "randomization list"
    subjects = load_subjects(subjects, proto)
    pathology = read_table(results)
    msi_table = read_table(msi) if msi else None
    loaded = load_eligibility_rules(rules)
    checks = check_eligibility(pathology, subjects=subjects, msi=msi_table, rules=loaded,
                               sources={"subjects": subjects_source})
    checks.insert(0, N.STUDYID, studyid)
    out = {"eligibility": write_table(checks, ELIGIBILITY_TABLE, outdir, provenance={"rules": str(rules or "assets/eligibility.yaml")})}
    if plots:
        from ._plots import plot_pathology

        out.update(plot_pathology(pathology, checks, Path(outdir) / "tme", baseline_timepoints=loaded.baseline_timepoints))
    flagged = checks[checks["RESULT"] == "FLAGGED"]
    log.info("eligibility: %d subjects, %d flags (%s)", checks[N.USUBJID].nunique(), len(flagged),
             ", ".join(f"{c} {n}" for c, n in flagged["CHECK"].value_counts().sort_index().items()) or "none")
    return out
