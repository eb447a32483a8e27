"""The genome stage of the simulator: valid files, truth that the files bear out, determinism."""

from __future__ import annotations

import filecmp
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pysam
import pytest

from biomarkers.protocol import load_protocol
from biomarkers.simulate import SimulatedTrial, stage_rng
from biomarkers.simulate._genome import simulate_genome
from biomarkers.simulate._trial import load_model, simulate_subjects
from genome_helpers import simulate_genome_trial

N_SUBJECTS = 6  # 3 of them MSI-H (simulation.yaml), the others drawn around 4 mut/Mb
TUMOUR_ONLY = 5  # this subject's germline DNA is missing: its tumour is counted in tumour-only mode


def run_stage(outdir: Path, n_subjects: int = N_SUBJECTS, seed: int = 3, plan_filter=None) -> SimulatedTrial:
    return simulate_genome_trial(outdir, n_subjects=n_subjects, seed=seed, tumor_only={TUMOUR_ONLY}, plan_filter=plan_filter)


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    return run_stage(tmp_path_factory.mktemp("genome") / "trial")


def _tumours(trial):
    return trial.assay_plan[trial.assay_plan["ASSAY"] == "wes_tumor"]


def test_files_are_valid_for_samtools_and_bcftools(trial, tool):
    samtools, bcftools = tool("samtools"), tool("bcftools")
    out = trial.outdir
    bams = sorted(out.glob("bam/*.bam")) + sorted(out.glob("pon/*.bam"))
    assert len(bams) == len(trial.assay_plan) + 2
    subprocess.run([samtools, "quickcheck", "-v", *map(str, bams)], check=True)
    for bam in bams:
        assert Path(f"{bam}.bai").exists()
        with pysam.AlignmentFile(bam) as handle:
            assert handle.header["HD"]["SO"] == "coordinate"
            assert [rg["SM"] for rg in handle.header["RG"]] == [bam.stem]
    for row in _tumours(trial).itertuples():
        vcf = out / f"vcf/{row.SPECIMEN_ID}.vcf.gz"
        result = subprocess.run([bcftools, "view", "-H", str(vcf)], capture_output=True, text=True, check=True)
        assert result.stdout.count("\n") >= 10
        header = subprocess.run([bcftools, "query", "-l", str(vcf)], capture_output=True, text=True, check=True).stdout.split()
        assert header == ([row.NORMAL_SPECIMEN_ID] if row.NORMAL_SPECIMEN_ID else []) + [row.SPECIMEN_ID]
        assert Path(f"{vcf}.tbi").exists()
    with pysam.FastaFile(str(out / "reference/genome.fa")) as fasta:
        assert fasta.references == ["chr1", "chr2", "chr3", "chr4"]


def test_samplesheet_rows_and_params(trial):
    rows = pd.DataFrame(trial.samplesheet_rows)
    tumours = _tumours(trial)
    assert Counter(rows["assay"]) == {"wes_tumor": len(tumours), "vcf_somatic": len(tumours),
                                      "wes_normal": len(trial.assay_plan) - len(tumours)}
    for row in rows.itertuples():
        assert (trial.outdir / row.file).exists() and (trial.outdir / row.index).exists()
        assert row.sample_name == row.specimen
    tumour_rows = rows[rows["assay"] != "wes_normal"]
    assert tumour_rows["normal_specimen"].notna().sum() == len(tumour_rows) - 2 * (tumours["NORMAL_SPECIMEN_ID"].isna().sum())
    assert trial.params["fasta"] == "reference/genome.fa" and trial.params["pon"] == "pon/PON*.bam"
    assert (trial.outdir / trial.params["targets"]).exists() and (trial.outdir / trial.params["coding_bed"]).exists()


def _samtools_depth(samtools: str, bam: Path, bed: Path) -> pd.Series:
    out = subprocess.run([samtools, "depth", "-a", "-s", "-Q", "20", "-q", "20", "-G", "SUPPLEMENTARY", "-b", str(bed), str(bam)],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    frame = pd.DataFrame(rows, columns=["chrom", "pos", "depth"]).astype({"pos": int, "depth": int})
    return frame.drop_duplicates(["chrom", "pos"]).set_index(["chrom", "pos"])["depth"]


def test_callable_bases_equal_samtools_depth(trial, tool):
    samtools = tool("samtools")
    out = trial.outdir
    bed = out / "reference/targets.bed"
    truth = pd.read_csv(out / "truth/tmb.csv").set_index("SPECIMEN_ID")
    merged = sum(e - s for _, s, e in _merged(bed))
    for row in _tumours(trial).head(3).itertuples():
        tumour = _samtools_depth(samtools, out / f"bam/{row.SPECIMEN_ID}.bam", bed)
        normal = _samtools_depth(samtools, out / f"bam/{row.NORMAL_SPECIMEN_ID}.bam", bed)
        assert len(tumour) == merged  # every merged target base once
        callable_paired = int(((tumour >= 20) & (normal.reindex(tumour.index) >= 20)).sum())
        assert truth.loc[row.SPECIMEN_ID, "CALLABLE_BASES"] == callable_paired
        assert truth.loc[row.SPECIMEN_ID, "CALLABLE_BASES_TUMOR_ONLY"] == int((tumour >= 20).sum())
        assert callable_paired < merged  # low-coverage stretches and target edges are not callable
        # and base for base: truth/callable/<specimen>.bed is exactly where both are >= 20
        both = (tumour >= 20) & (normal.reindex(tumour.index) >= 20)
        expected = {(c, p - 1) for c, p in both[both].index}
        observed = {(c, p) for c, s, e in (line.split("\t") for line in
                                            (out / f"truth/callable/{row.SPECIMEN_ID}.bed").read_text().splitlines())
                    for p in range(int(s), int(e))}
        assert observed == expected


def _merged(bed: Path):
    intervals = sorted((c, int(s), int(e)) for c, s, e, *_ in (line.split("\t") for line in bed.read_text().splitlines()))
    merged = []
    for c, s, e in intervals:
        if merged and merged[-1][0] == c and s <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], e)
        else:
            merged.append([c, s, e])
    return merged


def test_targets_overlap_so_merging_matters(trial):
    bed = trial.outdir / "reference/targets.bed"
    raw = sum(int(e) - int(s) for _, s, e, *_ in (line.split("\t") for line in bed.read_text().splitlines()))
    merged = sum(e - s for _, s, e in _merged(bed))
    assert raw > merged
    assert 150_000 < merged < 400_000


def test_tmb_truth_spans_low_and_high_and_follows_the_target(trial):
    tmb = pd.read_csv(trial.outdir / "truth/tmb.csv")
    subjects = trial.subjects.set_index("USUBJID")
    assert list(tmb.columns[:6]) == ["USUBJID", "SPECIMEN_ID", "TIMEPOINT", "CALLABLE_BASES", "N_COUNTED", "TMB"]
    assert (tmb["TMB"] < 10).any() and (tmb["TMB"] > 10).any()
    for row in tmb.itertuples():
        target = subjects.loc[row.USUBJID, "TMB_TARGET"]
        assert (row.TMB >= 10) == (target >= 10)  # the outcome model's TMB-high holds in the files
        # one variant either way: rounding, then keeping the subject on its side of 10
        assert abs(row.TMB - target) <= 1 / (row.CALLABLE_BASES / 1e6) + 1e-9
        assert row.TMB == pytest.approx(row.N_COUNTED / (row.CALLABLE_BASES / 1e6), abs=1e-5)


def test_funnel_matches_the_designed_decoys(trial):
    variants = pd.read_csv(trial.outdir / "truth/tmb_variants.csv", keep_default_na=False)
    tmb = pd.read_csv(trial.outdir / "truth/tmb.csv").set_index("SPECIMEN_ID")
    assert tmb["MODE"].value_counts().to_dict() == {"paired": len(tmb) - 1, "tumor_only": 1}
    paired = variants["SPECIMEN_ID"].map(tmb["MODE"]) == "paired"
    design = variants["DESIGN"].where(~paired | (variants["DESIGN"] != "population"), "counted")
    fate = variants["FIRST_FAILED_FILTER"].replace({"": "counted"})
    assert (design == fate).mean() == 1.0, variants[design != fate]
    to_fate = variants["FIRST_FAILED_FILTER_TUMOR_ONLY"]
    assert (to_fate[variants["DESIGN"] == "population"] == "population").all()
    tumor_only = tmb[tmb["MODE"] == "tumor_only"].iloc[0]
    assert tumor_only["CALLABLE_BASES"] == tumor_only["CALLABLE_BASES_TUMOR_ONLY"] and tumor_only["N_population"] > 0
    for filt in ["filter", "duplicate", "depth", "alt_reads", "vaf", "not_coding", "synonymous", "not_callable"]:
        assert (fate == filt).sum() >= len(tmb) - 1, filt  # every filter is exercised, about once per tumour or more
    for specimen, group in variants.groupby("SPECIMEN_ID"):
        assert tmb.loc[specimen, "N_COUNTED"] == group["COUNTED"].sum()
        for filt in ["filter", "duplicate", "depth", "alt_reads", "vaf", "population", "not_coding", "synonymous", "not_callable"]:
            assert tmb.loc[specimen, f"N_{filt}"] == (group["FIRST_FAILED_FILTER"] == filt).sum()


def test_vcf_values_are_what_the_reads_show(trial):
    """AD/DP of counted SNVs recounted from the BAM with pysam, independently of the simulator."""
    row = _tumours(trial).iloc[0]
    variants = pd.read_csv(trial.outdir / "truth/tmb_variants.csv", keep_default_na=False)
    mine = variants[(variants["SPECIMEN_ID"] == row.SPECIMEN_ID) & (variants["REF"].str.len() == 1) & (variants["ALT"].str.len() == 1)]
    checked = 0
    with pysam.VariantFile(str(trial.outdir / f"vcf/{row.SPECIMEN_ID}.vcf.gz")) as vcf, \
            pysam.AlignmentFile(str(trial.outdir / f"bam/{row.SPECIMEN_ID}.bam")) as bam:
        assert vcf.header.samples[0] == row.NORMAL_SPECIMEN_ID  # normal first: pick the tumour by name
        for rec in vcf:
            if len(rec.ref) != 1 or any(len(a) != 1 for a in rec.alts) or rec.pos not in set(mine["POS"]):
                continue
            counts = Counter()
            seen = set()
            for col in bam.pileup(rec.chrom, rec.pos - 1, rec.pos, truncate=True, min_base_quality=0, min_mapping_quality=0,
                                  ignore_overlaps=False, stepper="nofilter", max_depth=100000):
                for read in col.pileups:  # in file order
                    aln = read.alignment
                    if aln.flag & 0xF04 or aln.mapping_quality < 20 or aln.query_name in seen:
                        continue
                    seen.add(aln.query_name)  # overlapping mates: only the first in the file counts (samtools depth -s)
                    if read.is_del or read.is_refskip or aln.query_qualities[read.query_position] < 20:
                        continue
                    counts[aln.query_sequence[read.query_position]] += 1
            sample = rec.samples[row.SPECIMEN_ID]
            assert sample["DP"] == sum(counts.values())
            assert list(sample["AD"][1:]) == [counts[a] for a in rec.alts]
            checked += 1
    assert checked >= 5


def test_csq_most_severe_is_not_always_first_or_canonical(trial):
    """The simulated CSQ hides the most severe consequence behind the first and the canonical
    entry often enough, and TMB counting still picks the most severe one for those records."""
    from biomarkers.genomics.tmb import choose_samples, count_variants, load_rules, open_vcf, read_bed

    row = _tumours(trial).iloc[0]
    path = trial.outdir / f"vcf/{row.SPECIMEN_ID}.vcf.gz"
    fields = None
    first_not_most, canonical_not_most = 0, 0
    hidden: dict[tuple, str] = {}  # SNVs whose first or canonical entry is not the most severe -> most severe
    from biomarkers.simulate._genome_vcf import SEVERITY
    with pysam.VariantFile(str(path)) as vcf:
        desc = vcf.header.info["CSQ"].description
        fields = desc.split("Format: ")[1].split("|")
        assert fields[:8] == ["Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature", "BIOTYPE"]
        assert fields[-1] == "gnomADe_AF"
        for rec in vcf:
            entries = [dict(zip(fields, e.split("|"))) for e in rec.info["CSQ"]]
            assert len(entries) >= 2
            worst = min((t for e in entries for t in e["Consequence"].split("&")), key=SEVERITY.index)
            first_hides = entries[0]["Consequence"] != worst
            canonical = [e for e in entries if e["CANONICAL"] == "YES" and e["SYMBOL"] == entries[0]["SYMBOL"]]
            canonical_hides = bool(canonical) and canonical[0]["Consequence"] != worst
            first_not_most += first_hides
            canonical_not_most += canonical_hides
            if (first_hides or canonical_hides) and len(rec.alts) == 1 and len(rec.ref) == len(rec.alts[0]) == 1:
                hidden[(rec.chrom, rec.pos, rec.ref, rec.alts[0])] = worst
    assert first_not_most > 0 and canonical_not_most > 0 and len(hidden) >= 3
    targets = read_bed(trial.outdir / "reference" / "targets.bed")
    with open_vcf(path) as vcf:
        tumour, _ = choose_samples(vcf.header, specimen=row.SPECIMEN_ID)
        counted = count_variants(vcf, load_rules(), tumor_sample=tumour, tumor_only=False, targets=targets, callable_regions=targets)
    chosen = dict(zip(zip(counted.CHROM, counted.POS, counted.REF, counted.ALT), counted.CONSEQUENCE))
    assert {key: chosen[key] for key in hidden} == hidden


def _repeat_lengths(bam: pysam.AlignmentFile, chrom: str, start: int, end: int, unit_len: int, anchor: int = 5) -> Counter:
    """Observed tract length (in units) of primary, non-duplicate reads spanning the tract with anchored flanks."""
    lengths = Counter()
    for read in bam.fetch(chrom, start, end):
        if read.flag & 0xF04 or read.mapping_quality < 20:
            continue
        if read.reference_start > start - anchor or read.reference_end < end + anchor:
            continue
        delta, ref_pos = 0, read.reference_start
        for op, n in read.cigartuples:
            if op == 0:
                ref_pos += n
            elif op == 2:
                if start <= ref_pos <= end:
                    delta -= n
                ref_pos += n
            elif op == 1 and start <= ref_pos <= end:
                delta += n
        lengths[delta // unit_len] += 1
    return lengths


def test_msi_h_tumours_are_shifted_at_unstable_sites_only(trial):
    msi = pd.read_csv(trial.outdir / "truth/msi.csv")
    sites = pd.read_csv(trial.outdir / "truth/msi_sites.csv")
    stutter = load_model()["genome"]["stutter"]["rate"]
    assert set(msi["STATUS"]) == {"MSI-H", "MSS"}
    assert ((msi["STATUS"] == "MSS") == (msi["UNSTABLE_FRACTION"] == 0)).all()
    assert msi.loc[msi["STATUS"] == "MSI-H", "UNSTABLE_FRACTION"].between(0.3, 0.5).all()
    assert msi.loc[msi["STATUS"] == "MSI-H", "PURITY"].between(0.4, 0.8).all()
    for row in msi.itertuples():
        mine = sites[sites["SPECIMEN_ID"] == row.SPECIMEN_ID]
        with pysam.AlignmentFile(str(trial.outdir / f"bam/{row.SPECIMEN_ID}.bam")) as bam:
            stable_changed = stable_total = 0
            for site in mine.head(80).itertuples():
                lengths = _repeat_lengths(bam, site.CHROM, site.START, site.END, len(site.UNIT))
                total = sum(lengths.values())
                assert total >= 20
                if site.UNSTABLE:
                    shifted = lengths[site.SHIFT_UNITS] / total
                    # the somatic allele, give or take stutter, in the expected share of reads
                    assert abs(shifted - site.SHIFTED_READ_FRACTION) < 0.25, (site, lengths)
                else:
                    stable_changed += total - lengths[0]
                    stable_total += total
            assert stable_changed / stable_total == pytest.approx(stutter, abs=0.03)


def test_microsatellites_sit_in_targets_with_unique_flanks(trial):
    sites = pd.read_csv(trial.outdir / "truth/msi_sites.csv").drop_duplicates(["CHROM", "START"])
    assert 250 <= len(sites) <= 400
    assert set(sites["UNIT"].str.len()) == {1, 2, 3, 4}
    merged = _merged(trial.outdir / "reference/targets.bed")
    flanks = Counter()
    with pysam.FastaFile(str(trial.outdir / "reference/genome.fa")) as fasta:
        for s in sites.itertuples():
            assert fasta.fetch(s.CHROM, s.START, s.END) == s.UNIT * s.REF_REPEATS
            assert any(c == s.CHROM and a <= s.START and s.END <= b for c, a, b in merged)
            flanks[fasta.fetch(s.CHROM, s.START - 20, s.START)] += 1
            flanks[fasta.fetch(s.CHROM, s.END, s.END + 20)] += 1
    assert max(flanks.values()) == 1


def test_same_seed_same_bytes(tmp_path):
    def keep(plan):
        return plan[plan["USUBJID"] == plan["USUBJID"].iloc[0]]
    first = run_stage(tmp_path / "a", n_subjects=3, seed=5, plan_filter=keep)
    again = run_stage(tmp_path / "b", n_subjects=3, seed=5, plan_filter=keep)
    files = sorted(p.relative_to(first.outdir) for p in first.outdir.rglob("*") if p.is_file())
    assert any(str(f).endswith(".bam") for f in files) and any(str(f).endswith(".vcf.gz") for f in files)
    for name in files:
        assert filecmp.cmp(first.outdir / name, again.outdir / name, shallow=False), name


def test_empty_assay_plan_is_a_clear_error(tmp_path):
    protocol = load_protocol()
    trial = SimulatedTrial(outdir=tmp_path, seed=1, n_subjects=3)
    simulate_subjects(trial, protocol, stage_rng(1, "trial"))
    with pytest.raises(ValueError, match="assay_plan"):
        simulate_genome(trial, protocol, stage_rng(1, "genome"))
