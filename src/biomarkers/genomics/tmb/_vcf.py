"""Opening a VCF/BCF, choosing its tumour and normal samples, and reading its data lines as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pysam

from ...errors import InputError

__all__ = ["open_vcf", "choose_samples", "text_path", "record_lines"]


def open_vcf(path: str | Path) -> pysam.VariantFile:
    path = Path(path)
    if not path.exists():
        raise InputError("VCF not found", file=path)
    with open(path, "rb") as probe:
        head = probe.read(14)
    if head[:2] == b"\x1f\x8b" and not (len(head) >= 14 and head[3] & 0x04 and head[12:14] == b"BC"):
        raise InputError("VCF is gzip- but not bgzip-compressed; recompress it with `bgzip` (or give it uncompressed)", file=path)
    # Records are streamed, never fetched by region: silence htslib's "no index" notice.
    previous = pysam.set_verbosity(0)
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError, NotImplementedError) as exc:
        raise InputError(f"not a readable VCF/BCF: {exc}", file=path) from None
    finally:
        pysam.set_verbosity(previous)


def _header_meta(header: pysam.VariantHeader, key: str) -> str | None:
    for rec in header.records:
        if rec.key == key and rec.value:
            return rec.value.strip().strip('"')
    return None


def choose_samples(header: pysam.VariantHeader, *, tumor_sample: str | None = None,
                   specimen: str | None = None, file: str | Path = "") -> tuple[str, str | None]:
    """Which sample is the tumour, and which (if any) the matched normal.

    By name when given; else ``##tumor_sample=``; else the sample named as the specimen;
    else the sample that is not ``##normal_sample=``; else the only sample.
    """
    samples = list(header.samples)
    if not samples:
        raise InputError("VCF has no sample columns; TMB needs the tumour's FORMAT fields", file=file)
    normal = _header_meta(header, "normal_sample")
    if tumor_sample is not None:
        if tumor_sample not in samples:
            raise InputError(f"tumour sample is not in the VCF (samples: {', '.join(samples)})", file=file, field="--tumor-sample", value=tumor_sample)
        tumour = tumor_sample
    elif (declared := _header_meta(header, "tumor_sample")) is not None:
        if declared not in samples:
            raise InputError(f"##tumor_sample names a sample that is not in the VCF (samples: {', '.join(samples)})", file=file, field="tumor_sample", value=declared)
        tumour = declared
    elif specimen is not None and specimen in samples:
        tumour = specimen
    elif normal is not None and normal in samples and len(samples) == 2:
        tumour = next(s for s in samples if s != normal)
    elif len(samples) == 1:
        tumour = samples[0]
    else:
        raise InputError(f"cannot tell which sample is the tumour among {', '.join(samples)}; give --tumor-sample", file=file)
    if normal is None or normal not in samples or normal == tumour:
        others = [s for s in samples if s != tumour]
        normal = others[0] if len(others) == 1 else None
    return tumour, normal


def text_path(vcf: pysam.VariantFile) -> str | None:
    """The file behind ``vcf`` when it is a VCF on disk (plain or bgzipped) that can be read as text; else None (BCF, stream)."""
    path = vcf.filename.decode() if isinstance(vcf.filename, bytes) else str(vcf.filename)
    return path if vcf.format == "VCF" and Path(path).is_file() else None


def record_lines(vcf: pysam.VariantFile) -> Iterator[str]:
    """Data lines of the VCF as text: read straight through BGZF (or plain text) when the
    file is VCF, which is several times faster than formatting pysam records; BCF records
    are formatted by htslib."""
    path = text_path(vcf)
    if path is None:
        for rec in vcf:
            yield str(rec)
        return
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    handle = pysam.BGZFile(path, "rb") if compressed else open(path, "rb")
    try:
        for raw in handle:
            if raw[:1] != b"#":
                yield raw.decode()
    finally:
        handle.close()
