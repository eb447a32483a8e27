#!/usr/bin/env python3
"""TMB speed against the peers, in one run:

1. counting: ``biomarkers.genomics.tmb`` over a synthetic somatic VCF of >= 1,000,000
   records (two samples, FORMAT GT:AD:AF:DP, VEP CSQ) vs ``bcftools view -i '<the same
   FORMAT/FILTER thresholds>' | wc -l`` (bcftools does not read the consequence);
2. callable territory: per-base depth over >= 2 Mb of targets of a paired-end BAM at
   100x (overlapping mates included) vs ``mosdepth --thresholds 20`` on the same BAM.

    python benchmarks/bench_tmb.py [--records 1000000] [--mb 2.0] [--depth 100] [--keep DIR]

Prints wall-clock seconds and ratios (ours / peer; < 1 means faster).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from biomarkers.genomics import tmb  # noqa: E402
from biomarkers.simulate._bamwriter import _BGZF_EOF, ReadTable, _header_bytes, _records, bgzf_compress  # noqa: E402

CONSEQUENCES = ["missense_variant", "synonymous_variant", "intron_variant", "stop_gained", "3_prime_UTR_variant",
                "frameshift_variant", "upstream_gene_variant", "splice_region_variant&intron_variant"]


def write_vcf(path: Path, n: int, rng: np.random.Generator) -> Path:
    contigs = [f"chr{i}" for i in range(1, 23)]
    per = n // len(contigs) + 1
    lines = ["##fileformat=VCFv4.2", "##tumor_sample=TUMOUR", "##normal_sample=NORMAL"]
    lines += [f"##contig=<ID={c},length=250000000>" for c in contigs]
    lines += ['##FILTER=<ID=PASS,Description="All filters passed">', '##FILTER=<ID=weak_evidence,Description="weak">',
              '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Feature">',
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
              '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions">',
              '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOUR\tNORMAL"]
    plain = path.with_suffix("")
    with open(plain, "w") as out:
        out.write("\n".join(lines) + "\n")
        written = 0
        for contig in contigs:
            m = min(per, n - written)
            if m <= 0:
                break
            pos = np.sort(rng.choice(200_000_000, m, replace=False)) + 1
            dp = rng.integers(10, 200, m)
            alt = np.minimum(rng.binomial(dp, rng.uniform(0.01, 0.5, m)), dp)
            filt = np.where(rng.random(m) < 0.7, "PASS", "weak_evidence")
            csq = rng.integers(0, len(CONSEQUENCES), m)
            base = rng.integers(0, 4, (m, 2))
            for i in range(m):
                r, a = "ACGT"[base[i, 0]], "ACGT"[(base[i, 0] + 1 + base[i, 1] % 3) % 4]
                d, k = int(dp[i]), int(alt[i])
                out.write(f"{contig}\t{pos[i]}\t.\t{r}\t{a}\t.\t{filt[i]}\tCSQ={a}|{CONSEQUENCES[csq[i]]}|MODERATE|G{i % 997}|ENST{i % 9973}\t"
                          f"GT:AD:AF:DP\t0/1:{d - k},{k}:{k / d:.3f}:{d}\t0/0:40,0:0:40\n")
            written += m
    import pysam

    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    return path


def write_bam(path: Path, mb: float, depth: int, rng: np.random.Generator, read_len: int = 150) -> tuple[Path, Path]:
    """Paired-end reads over 2 x (mb/2) Mb of targets on one contig, fragments 200-600 bp (about
    a third of the pairs overlap), 2% duplicates, some MAPQ 0; quality 10-40."""
    contig_len = int(mb * 1e6 * 1.3) + 10_000
    n_targets = 20
    span = int(mb * 1e6 / n_targets)
    starts = np.arange(n_targets) * int(span * 1.3) + 5_000
    bed = path.with_suffix(".bed")
    bed.write_text("".join(f"bench\t{s}\t{s + span}\n" for s in starts.tolist()))
    n_frag = int(mb * 1e6 * depth / (2 * read_len))
    target = rng.integers(0, n_targets, n_frag)
    frag_start = starts[target] - 200 + rng.integers(0, span, n_frag)
    frag_len = rng.integers(200, 600, n_frag)
    r1 = frag_start
    r2 = frag_start + frag_len - read_len
    pos = np.concatenate([r1, r2]).astype(np.int64)
    mate = np.concatenate([r2, r1]).astype(np.int64)
    tlen = np.concatenate([frag_len, -frag_len]).astype(np.int32)
    ids = np.concatenate([np.arange(n_frag), np.arange(n_frag)])
    first = np.concatenate([np.ones(n_frag, bool), np.zeros(n_frag, bool)])
    dup = np.concatenate([rng.random(n_frag) < 0.02] * 2)
    mapq = np.where(np.concatenate([rng.random(n_frag) < 0.03] * 2), 0, 60).astype(np.uint8)
    order = np.lexsort((~first, pos))
    flag = np.where(first, 0x1 | 0x2 | 0x20 | 0x40, 0x1 | 0x2 | 0x10 | 0x80) | np.where(dup, 0x400, 0)
    names = np.char.add(b"f", np.char.mod("%09d", ids).astype("S9"))
    header = "@HD\tVN:1.6\tSO:coordinate\n" + f"@SQ\tSN:bench\tLN:{contig_len}\n@RG\tID:rg\tSM:BENCH\n"
    with open(path, "wb") as out:
        out.write(bgzf_compress(_header_bytes(header, ["bench"], [contig_len]), 1))
        chunk = 200_000
        seq_tile = np.frombuffer(b"ACGT" * (read_len // 4 + 1), dtype=np.uint8)[:read_len]
        for a in range(0, len(order), chunk):
            idx = order[a:a + chunk]
            k = len(idx)
            reads = ReadTable(
                contig=np.zeros(k, np.int32), pos=pos[idx].astype(np.int32), ref_len=np.full(k, read_len, np.int32),
                flag=flag[idx].astype(np.uint16), mapq=mapq[idx], mate_contig=np.zeros(k, np.int32),
                mate_pos=mate[idx].astype(np.int32), tlen=tlen[idx], name=names[idx],
                seq=np.broadcast_to(seq_tile, (k, read_len)), qual=rng.integers(10, 41, (k, read_len), dtype=np.uint8),
                cigar3=np.zeros((k, 3), np.uint32), n_ops=np.ones(k, np.uint8))
            out.write(bgzf_compress(_records(reads, np.arange(k), 1, b"RGZrg\x00").tobytes(), 1))
        out.write(_BGZF_EOF)
    import pysam

    pysam.index(str(path))
    return path, bed


def timed(fn):
    """(wall seconds, value); CPU seconds of this process and of finished children go to CPU[-1]."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time()
    start = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(time.process_time() - cpu + (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime))
    return wall, value


CPU: list[float] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--keep", help="keep the generated files in this folder")
    args = parser.parse_args()
    for exe in ("bcftools", "mosdepth"):
        if not shutil.which(exe):
            print(f"{exe} is not installed: install it (Debian package {exe}) to compare", file=sys.stderr)
            return 1
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-tmb-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    rules = tmb.load_rules()
    v = rules.variants

    vcf = work / "somatic.vcf.gz"
    if not vcf.exists():
        t, _ = timed(lambda: write_vcf(vcf, args.records, rng))
        print(f"generated {args.records:,}-record VCF in {t:.1f}s")
    bed = work / "genome.bed"
    bed.write_text("".join(f"chr{i}\t0\t250000000\n" for i in range(1, 23)))
    regions = tmb.read_bed(bed)

    def ours_count():
        with tmb.open_vcf(vcf) as fh:
            return tmb.count_variants(fh, rules, tumor_sample="TUMOUR", tumor_only=False, targets=regions,
                                      callable_regions=regions)

    expression = (f'FILTER="PASS" && FMT/DP[0]>={v.min_depth} && FMT/AD[0:1]>={v.min_alt_reads} '
                  f'&& FMT/AF[0:0]>={v.min_vaf}')
    peer_cmd = f"bcftools view -H -i '{expression}' {vcf} | wc -l"
    t_ours, frame = timed(ours_count)
    c_ours = CPU[-1]
    t_peer, peer = timed(lambda: int(subprocess.run(peer_cmd, shell=True, capture_output=True, text=True, check=True).stdout))
    c_peer = CPU[-1]
    passed_quality = int((~frame["FIRST_FAILED_FILTER"].isin(["filter", "duplicate", "depth", "alt_reads", "vaf"])).sum())
    print(f"counting  {len(frame):>10,} records: ours {t_ours:6.2f}s wall {c_ours:6.2f}s CPU  bcftools view -i | wc -l "
          f"{t_peer:6.2f}s wall {c_peer:6.2f}s CPU  ratio wall {t_ours / t_peer:.2f} CPU {c_ours / c_peer:.2f}  "
          f"(records passing the FORMAT/FILTER thresholds: ours {passed_quality:,}, bcftools {peer:,})")

    bam = work / "tumour.bam"
    if not bam.exists():
        t, (bam, target_bed) = timed(lambda: write_bam(bam, args.mb, args.depth, rng))
        print(f"generated {args.mb:g} Mb x {args.depth}x paired-end BAM in {t:.1f}s")
    target_bed = bam.with_suffix(".bed")
    targets = tmb.read_bed(target_bed)
    tmb.target_depth(bam, targets)  # compile the kernels (numba caches them on disk) outside the timing

    t_ours_bq, callable_bq = timed(lambda: tmb.callable_territory(targets, bam, min_depth=20, min_mapq=20, min_baseq=20))
    c_ours_bq = CPU[-1]
    t_ours, callable_ = timed(lambda: tmb.callable_territory(targets, bam, min_depth=20, min_mapq=20, min_baseq=0))
    c_ours = CPU[-1]
    prefix = work / "md"
    md_cmd = ["mosdepth", "-n", "-Q", "20", "-F", str(0x4 | 0x100 | 0x200 | 0x400 | 0x800), "--thresholds", "20",
              "-b", str(target_bed), str(prefix), str(bam)]
    t_peer, _ = timed(lambda: subprocess.run(md_cmd, check=True, capture_output=True))
    c_peer = CPU[-1]
    import gzip

    with gzip.open(f"{prefix}.thresholds.bed.gz", "rt") as fh:
        md_callable = sum(int(line.split("\t")[4]) for line in fh if not line.startswith("#"))
    print(f"callable  {targets.total_bases / 1e6:.2f} Mb at {args.depth}x: ours {t_ours:6.2f}s wall {c_ours:6.2f}s CPU "
          f"(BQ off; {t_ours_bq:.2f}s wall {c_ours_bq:.2f}s CPU with BQ >= 20)  mosdepth {t_peer:6.2f}s wall {c_peer:6.2f}s CPU  "
          f"ratio wall {t_ours / t_peer:.2f} CPU {c_ours / c_peer:.2f} (with BQ: wall {t_ours_bq / t_peer:.2f} CPU {c_ours_bq / c_peer:.2f})  "
          f"(callable bases: ours {callable_.total_bases:,}, mosdepth {md_callable:,}; with BQ >= 20: {callable_bq.total_bases:,})")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
