"""Sample swaps: the names inside BAM and VCF files against the samplesheet's rows.

A BAM's read groups (``@RG SM``) and a VCF's sample columns name the sample that was
sequenced. Each must be the row's ``sample_name`` when the samplesheet gives one, else
its specimen ID; a mismatch means the file is another specimen's (a swap at the
sequencing lab or in the samplesheet) and is refused naming the line, the file and both
names. A user whose files use other names maps them with the ``sample_name`` column.

Only the names are compared: a physical swap under the right name (the wrong tube
sequenced) needs a genotype concordance check, which is not done here (see
docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import pysam

from .. import names as N
from ..errors import InputError

__all__ = ["check_sample_names"]

_MAP_IT = "if the names differ by design, give the file's sample name in the samplesheet's sample_name column"


def _present(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _expected(row: Mapping) -> str:
    return _present(row.get("sample_name")) or row[N.SS_SPECIMEN]


def _bam_samples(path: str) -> list[str] | None:
    """``SM`` of the read groups, in header order; None when the file cannot be read here (e.g. a URL)."""
    if "://" in path or not Path(path).is_file():
        return None
    previous = pysam.set_verbosity(0)
    try:
        with pysam.AlignmentFile(path, check_sq=False, require_index=False) as handle:
            groups = handle.header.to_dict().get("RG", [])
    except (OSError, ValueError):
        return None  # unreadable: the step that opens it says why, with its own message
    finally:
        pysam.set_verbosity(previous)
    seen: list[str] = []
    for rg in groups:
        if rg.get("SM") and rg["SM"] not in seen:
            seen.append(rg["SM"])
    return seen


def _vcf_samples(path: str) -> list[str] | None:
    if "://" in path or not Path(path).is_file():
        return None
    previous = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(path) as handle:
            return list(handle.header.samples)
    except (OSError, ValueError, NotImplementedError):
        return None
    finally:
        pysam.set_verbosity(previous)


def check_sample_names(rows: Iterable[Mapping], *, samplesheet: str | Path, lines: Collection[int] | None = None) -> None:
    """Refuse a BAM whose read groups, or a VCF whose samples, are not the row's specimen (or ``sample_name``).

    ``rows``: samplesheet records (``assay``, ``specimen``, ``file``, ``sample_name``,
    ``normal_specimen``, ``line``). BAM rows: every read group's ``SM`` must be the expected
    name (a BAM without read-group samples cannot be checked and passes). VCF rows: the
    expected tumour name must be a sample of the VCF, and when the VCF holds one other
    sample and the row's normal specimen has a BAM row, that sample must be the normal's
    expected name. ``lines``: check only these rows (the others still give the normals'
    names): Nextflow checks each file in a task of its own.
    """
    rows = list(rows)
    expected_of = {r[N.SS_SPECIMEN]: _expected(r) for r in rows if r[N.SS_ASSAY] in N.NORMAL_BAM_ASSAYS}
    for row in rows:
        if lines is not None and row["line"] not in lines:
            continue
        where = {"file": samplesheet, "row": f"line {row['line']}"}
        assay, path, expected = row[N.SS_ASSAY], str(row[N.SS_FILE]), _expected(row)
        if assay in (*N.TUMOR_BAM_ASSAYS, *N.NORMAL_BAM_ASSAYS):
            found = _bam_samples(path)
            others = [s for s in found or [] if s != expected]
            if others:
                raise InputError(f"the BAM's read groups name sample {others[0]!r}, not {expected!r} "
                                 f"({Path(path).name}): a sample swap? {_MAP_IT}", field="sample_name", **where)
        elif assay == N.ASSAY_VCF_SOMATIC:
            found = _vcf_samples(path)
            if found is None:
                continue
            if expected not in found:
                raise InputError(f"the VCF has no sample {expected!r} (samples: {', '.join(found) or 'none'}; "
                                 f"{Path(path).name}): a sample swap? {_MAP_IT}", field="sample_name", **where)
            normal = _present(row.get(N.SS_NORMAL))
            rest = [s for s in found if s != expected]
            if normal in expected_of and len(rest) == 1 and rest[0] != expected_of[normal]:
                raise InputError(f"the VCF's other sample is {rest[0]!r}, not the normal {expected_of[normal]!r} "
                                 f"({Path(path).name}): a sample swap? {_MAP_IT}", field=N.SS_NORMAL, **where)
