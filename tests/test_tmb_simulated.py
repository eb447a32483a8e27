"""TMB recovers the simulated trial's truth exactly: callable bases, counts, every variant's fate."""

from __future__ import annotations

import copy

import pandas as pd
import pysam
import pytest

from biomarkers.genomics import tmb
from biomarkers.protocol import load_protocol
from biomarkers.simulate import SimulatedTrial, stage_rng
from biomarkers.simulate._genome import simulate_genome
from biomarkers.simulate._trial import load_model, simulate_subjects


def _assay_plan(subjects: pd.DataFrame) -> pd.DataFrame:
    """What the custody stage provides: germline DNA, tumour DNA at BASELINE (and SURGERY for the first)."""
    rows = []
    for i, subj in enumerate(subjects.itertuples(index=False)):
        normal = f"DNA{i:03d}-GL"
        rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": normal, "TIMEPOINT": "BASELINE", "SPECIMEN_TYPE": "DNA",
                     "ASSAY": "wes_normal", "NORMAL_SPECIMEN_ID": None})
        rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": f"DNA{i:03d}-BX", "TIMEPOINT": "BASELINE", "SPECIMEN_TYPE": "DNA",
                     "ASSAY": "wes_tumor", "NORMAL_SPECIMEN_ID": normal})
        if i == 0:
            rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": f"DNA{i:03d}-SX", "TIMEPOINT": "SURGERY", "SPECIMEN_TYPE": "DNA",
                         "ASSAY": "wes_tumor", "NORMAL_SPECIMEN_ID": normal})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("tmbsim") / "trial"
    protocol = load_protocol()
    trial = SimulatedTrial(outdir=outdir, seed=3, n_subjects=3)
    simulate_subjects(trial, protocol, stage_rng(3, "trial"))
    trial.assay_plan = _assay_plan(trial.subjects)
    model = copy.deepcopy(load_model()["genome"])
    model["panel_of_normals"] = 2
    simulate_genome(trial, protocol, stage_rng(3, "genome"), model=model)
    return trial


def _normal_of(vcf, specimen):
    with pysam.VariantFile(str(vcf)) as fh:
        return next(s for s in fh.header.samples if s != specimen)


@pytest.mark.parametrize("mode", ["paired", "tumour-only"])
def test_simulated_truth_is_recovered_exactly(trial, mode):
    out = trial.outdir
    truth = pd.read_csv(out / "truth" / "tmb.csv")
    truth_variants = pd.read_csv(out / "truth" / "tmb_variants.csv", keep_default_na=False)
    suffix = "" if mode == "paired" else "_TUMOR_ONLY"
    assert len(truth) == 4
    for row in truth.itertuples():
        vcf = out / "vcf" / f"{row.SPECIMEN_ID}.vcf.gz"
        normal = _normal_of(vcf, row.SPECIMEN_ID)
        summary, variants = tmb.tmb_specimen(
            vcf, targets=out / "reference" / "targets.bed", fasta=out / "reference" / "genome.fa",
            tumour_bam=out / "bam" / f"{row.SPECIMEN_ID}.bam",
            normal_bam=out / "bam" / f"{normal}.bam" if mode == "paired" else None,
            subject=row.USUBJID, specimen=row.SPECIMEN_ID, timepoint=row.TIMEPOINT, tumour_only=mode != "paired")
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
