"""MSI against the simulated trial's truth: every specimen's status, and per-site calls where coverage allows.

The genome stage of the simulator (reference with microsatellites, tumour/normal
and panel-of-normals BAMs with PCR stutter, MSI-H tumours with known shifted
sites at purity < 100 %) runs once for the module, on a small assay plan as the
custody stage would give it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from biomarkers.genomics import msi
from genome_helpers import simulate_genome_trial

N_SUBJECTS = 6  # 3 MSI-H (simulation.yaml), 3 MSS; every third subject also has a surgical tumour
N_PON = 4


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("msi_sim") / "trial"
    trial = simulate_genome_trial(out, n_subjects=N_SUBJECTS, seed=3, n_pon=N_PON)
    fasta = out / "reference" / "genome.fa"
    config = msi.load_settings()
    msi.write_sites(msi.scan_sites(fasta, out / "reference" / "targets.bed", config), out / "sites.tsv.gz", settings=config)
    sites = msi.read_sites(out / "sites.tsv.gz")
    baseline = msi.baseline_from_bams(sites, sorted((out / "pon").glob("PON*.bam")), fasta, config)
    plan = trial.assay_plan
    results = {}
    for row in plan[plan["ASSAY"] == "wes_tumor"].itertuples(index=False):
        for mode in ("paired", "tumor_only"):
            kwargs = {"normal_bam": out / "bam" / f"{row.NORMAL_SPECIMEN_ID}.bam"} if mode == "paired" else {"baseline": baseline}
            results[row.SPECIMEN_ID, mode] = msi.call_specimen(
                sites, out / "bam" / f"{row.SPECIMEN_ID}.bam", fasta, settings=config, subject=row.USUBJID,
                specimen=row.SPECIMEN_ID, timepoint=row.TIMEPOINT, studyid="NCT07007182", **kwargs)
    return {"dir": out, "sites": sites, "results": results, "truth": pd.read_csv(out / "truth" / "msi.csv"),
            "truth_sites": pd.read_csv(out / "truth" / "msi_sites.csv")}


def test_scan_finds_every_simulated_microsatellite(sim):
    truth = sim["truth_sites"].drop_duplicates(["CHROM", "START"])
    found = sim["sites"].merge(truth, on=["CHROM", "START"], suffixes=("", "_TRUTH"))
    assert len(found) == len(truth) == 300
    assert (found["END"] == found["END_TRUTH"]).all() and (found["UNIT"] == found["UNIT_TRUTH"]).all()
    assert (found["REF_REPEATS"] == found["REF_REPEATS_TRUTH"]).all()


@pytest.mark.parametrize("mode", ["paired", "tumor_only"])
def test_every_specimen_gets_its_true_status(sim, mode):
    truth = sim["truth"]
    assert sorted(truth["STATUS"].unique()) == ["MSI-H", "MSS"]
    for row in truth.itertuples():
        summary = sim["results"][row.SPECIMEN_ID, mode][0].iloc[0]
        assert summary["MSI_STATUS"] == row.STATUS, (row.SPECIMEN_ID, mode, summary["MSI_SCORE"])
        assert bool(summary["MSI_H_EXCLUSION"]) == (row.STATUS == "MSI-H")
        if row.STATUS == "MSS":
            assert summary["MSI_SCORE"] < 1.0
        else:  # the score estimates the unstable fraction (missing some low-purity shifts, sampling the evaluated sites)
            assert summary["MSI_SCORE"] > 20.0
            assert abs(summary["MSI_SCORE"] - 100 * row.UNSTABLE_FRACTION) < 10, (row.SPECIMEN_ID, mode, summary["MSI_SCORE"])


@pytest.mark.parametrize("mode", ["paired", "tumor_only"])
def test_per_site_calls_agree_with_truth_where_coverage_is_at_least_30(sim, mode):
    """>= 95 % agreement on sites where the call rests on >= 30 spanning fragments in the tumour and its reference."""
    truth_sites = sim["truth_sites"]
    for specimen in sim["truth"]["SPECIMEN_ID"]:
        calls = sim["results"][specimen, mode][1]
        merged = calls.merge(truth_sites[truth_sites["SPECIMEN_ID"] == specimen], on=["CHROM", "START"])
        covered = merged[(merged["TUMOR_DEPTH"] >= 30) & (merged["REFERENCE_DEPTH"] >= 30) & merged["CALL"].isin(["STABLE", "UNSTABLE"])]
        assert len(covered) >= 50, specimen
        agreement = ((covered["CALL"] == "UNSTABLE") == covered["UNSTABLE"]).mean()
        assert agreement >= 0.95, (specimen, mode, agreement)


def test_shift_direction_matches_truth(sim):
    """Where truth shifted a site by whole units, the called site's mean length moved the same way."""
    truth_sites = sim["truth_sites"]
    for specimen in sim["truth"].loc[sim["truth"]["STATUS"] == "MSI-H", "SPECIMEN_ID"]:
        calls = sim["results"][specimen, "paired"][1]
        merged = calls.merge(truth_sites[truth_sites["SPECIMEN_ID"] == specimen], on=["CHROM", "START"])
        hits = merged[(merged["CALL"] == "UNSTABLE") & merged["UNSTABLE"]]
        assert len(hits) > 30
        assert ((hits["MEAN_LENGTH_DIFF"] > 0) == (hits["SHIFT_UNITS"] > 0)).mean() >= 0.95
