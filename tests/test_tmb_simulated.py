"""TMB recovers the simulated trial's truth exactly: callable bases, counts, every variant's fate."""

from __future__ import annotations

import pandas as pd
import pysam
import pytest

from biomarkers.genomics import tmb
from genome_helpers import simulate_genome_trial


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("tmbsim") / "trial"
    # 3 subjects, the first with a surgical tumour too: 4 tumours
    return simulate_genome_trial(outdir, n_subjects=3, seed=3, n_pon=2)


def _normal_of(vcf, specimen):
    with pysam.VariantFile(str(vcf)) as fh:
        return next(s for s in fh.header.samples if s != specimen)


@pytest.mark.parametrize("mode", ["paired", "tumor_only"])
def test_simulated_truth_is_recovered_exactly(trial, mode):
    out = trial.outdir
    truth = pd.read_csv(out / "truth" / "tmb.csv")
    truth_variants = pd.read_csv(out / "truth" / "tmb_variants.csv", keep_default_na=False)
    suffix = "" if mode == "paired" else "_TUMOR_ONLY"
    assert len(truth) == 4
    for row in truth.itertuples():
        vcf = out / "vcf" / f"{row.SPECIMEN_ID}.vcf.gz"
        normal = _normal_of(vcf, row.SPECIMEN_ID)
        summary, variants = tmb.count_specimen(
            vcf, targets=out / "reference" / "targets.bed", fasta=out / "reference" / "genome.fa",
            tumor_bam=out / "bam" / f"{row.SPECIMEN_ID}.bam",
            normal_bam=out / "bam" / f"{normal}.bam" if mode == "paired" else None,
            studyid="NCT07007182", subject=row.USUBJID, specimen=row.SPECIMEN_ID, timepoint=row.TIMEPOINT, tumor_only=mode != "paired")
        got = summary.iloc[0]
        assert got["CALLABLE_BASES"] == getattr(row, "CALLABLE_BASES" + suffix)
        assert got["N_COUNTED"] == getattr(row, "N_COUNTED" + suffix)
        if mode == "paired":
            for name in tmb.FILTERS:
                assert got[f"N_{name.upper()}"] == getattr(row, f"N_{name}", 0), name
            assert got["TMB"] == pytest.approx(row.TMB)
        else:
            assert got["TMB"] == pytest.approx(row.TMB_TUMOR_ONLY)
        expected = truth_variants[truth_variants["SPECIMEN_ID"] == row.SPECIMEN_ID]
        mine = variants[["CHROM", "POS", "REF", "ALT"]].assign(FATE=variants["FIRST_FAILED_FILTER"].fillna(""))
        theirs = expected[["CHROM", "POS", "REF", "ALT"]].assign(FATE=expected["FIRST_FAILED_FILTER" + suffix])
        assert mine.reset_index(drop=True).astype(str).equals(theirs.reset_index(drop=True).astype(str))
