"""The trial stage of the simulator: randomization, outcomes and milestones follow the protocol."""

import datetime as dt
import filecmp
import json

import pandas as pd
import pytest

from biomarkers.errors import InputError

from biomarkers.protocol import load_protocol
from biomarkers.simulate import simulate_trial

# Only the first stage (randomization, outcomes, milestones): the later stages have their
# own tests (test_custody_simulate, test_simulate_genome, test_outcomes_simulated) and the
# whole simulator runs in test_end_to_end.
STAGES = ("trial",)


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    return simulate_trial(tmp_path_factory.mktemp("sim") / "trial", n_subjects=54, seed=1, violation_rate=0.0, stages=STAGES)


def test_randomization_is_2_to_1_in_permuted_blocks_within_strata(trial):
    subjects = pd.read_csv(trial.outdir / "subjects.csv")
    assert list(subjects.columns) == ["USUBJID", "SITEID", "ARMCD", "STRATUM", "RANDDT"]
    assert len(subjects) == 54 and subjects["USUBJID"].is_unique
    protocol = load_protocol()
    assert subjects["USUBJID"].map(lambda s: bool(protocol.usubjid_pattern.match(s))).all()
    for _, group in subjects.sort_values("RANDDT", kind="stable").groupby("STRATUM", sort=False):
        arms = group["ARMCD"].tolist()
        for start in range(0, len(arms) - len(arms) % 3, 3):  # every complete block of 3 holds 2 EXP, 1 CTRL
            assert sorted(arms[start:start + 3]) == ["CTRL", "EXP", "EXP"]
        # an incomplete last block can only be short of its remaining allocations
        assert arms.count("EXP") - 2 * arms.count("CTRL") in range(-2, 3)


def test_milestones_stop_at_progression_and_follow_the_arm(trial):
    truth = pd.read_csv(trial.outdir / "truth" / "subjects.csv")
    milestones = pd.read_csv(trial.outdir / "milestones.csv", parse_dates=["DATE"])
    by_subject = {k: dict(zip(g["MILESTONE"], g["DATE"])) for k, g in milestones.groupby("USUBJID")}
    cutoff = pd.Timestamp(trial.data_cutoff)
    for subj in truth.itertuples():
        dates = by_subject[subj.USUBJID]
        rand = pd.Timestamp(subj.RANDDT)
        assert dates["RAND"] == rand
        assert max(dates.values()) <= cutoff
        if subj.PFS_EVENT:
            progression = rand + pd.Timedelta(days=subj.PFS_DAYS)
            assert dates["PROGRESSION"] == progression
            assert all(d <= progression for d in dates.values())
        else:
            assert "PROGRESSION" not in dates
        assert ("SURGERY" in dates) <= (subj.ARMCD == "EXP")
        assert ("C4D1" in dates) <= (subj.ARMCD == "CTRL")
        assert ("MAINT_START" in dates) <= (subj.STRATUM == "CPS>=1")
        if "MAINT_START" in dates:
            assert dates["MAINT_START"] < dates["MAINT_END"]
    # several EXP subjects reach surgery, and the MSI-H subjects are hypermutated
    assert sum("SURGERY" in d for d in by_subject.values()) >= 10
    assert (truth.loc[truth["MSI_STATUS"] == "MSI-H", "TMB_TARGET"] >= 25).all()
    assert (truth["MSI_STATUS"] == "MSI-H").sum() == 3
    assert 4 <= truth["TMB_HIGH"].sum() <= 20


def test_outcome_model_is_recorded(trial):
    model = json.loads((trial.outdir / "truth" / "outcome_model.json").read_text())
    assert model["pfs_log_hr_tmb_high"] == -0.8 and model["adjusted_for"] == ["ARMCD"]
    assert dt.date.fromisoformat(model["data_cutoff"]) == dt.date.fromisoformat(trial.data_cutoff)


def test_same_seed_same_files(trial, tmp_path):
    again = simulate_trial(tmp_path / "again", n_subjects=54, seed=1, violation_rate=0.0, stages=STAGES)
    for name in ("subjects.csv", "milestones.csv", "params.yaml", "truth/subjects.csv"):
        assert filecmp.cmp(trial.outdir / name, again.outdir / name, shallow=False), name
    other = simulate_trial(tmp_path / "other", n_subjects=54, seed=2, violation_rate=0.0, stages=STAGES)
    assert not filecmp.cmp(trial.outdir / "subjects.csv", other.outdir / "subjects.csv", shallow=False)


def test_simulate_cli_rejects_bad_arguments_in_one_line(cli, tmp_path):
    result = cli("simulate", "--outdir", str(tmp_path / "t"), "--subjects", "2")
    assert result.returncode == 2
    assert result.stderr.strip() == "biomarkers simulate: error: field 'subjects': simulate at least 3 subjects (one randomization block) (got 2)"
    assert not (tmp_path / "t").exists()


def test_stages_run_with_the_stages_they_need(tmp_path):
    from biomarkers.simulate import STAGES

    with pytest.raises(InputError, match="unknown simulation stage 'genomes'"):
        simulate_trial(tmp_path / "t", n_subjects=3, stages=("genomes",))
    assert not (tmp_path / "t").exists()
    clinical = simulate_trial(tmp_path / "c", n_subjects=3, stages=("clinical",))  # needs trial, not custody
    assert (clinical.outdir / "subjects.csv").is_file() and (clinical.outdir / "adam").is_dir()
    assert not (clinical.outdir / "custody").exists()
    names = [s.name for s in STAGES]
    assert all(names.index(n) < names.index(s.name) for s in STAGES for n in s.needs)  # needs run first


def test_immune_score_is_standard_normal_and_follows_pfs_within_arm(tmp_path):
    """The latent immune score the immune modalities share: N(0, 1), independent of arm,
    and its within-arm rank correlation with PFS near the model's rho among progressors
    (uncensored PFS, where the observed time is the latent time)."""
    from scipy.stats import spearmanr

    trial = simulate_trial(tmp_path / "big", n_subjects=600, seed=5, violation_rate=0.0, stages=STAGES)
    truth = pd.read_csv(trial.outdir / "truth" / "subjects.csv")
    model = json.loads((trial.outdir / "truth" / "immune_model.json").read_text())
    score = truth["IMMUNE_SCORE"]
    assert abs(score.mean()) < 0.1 and abs(score.std() - 1) < 0.1
    means = truth.groupby("ARMCD")["IMMUNE_SCORE"].mean()
    assert abs(means["EXP"] - means["CTRL"]) < 0.2  # a baseline trait: no arm effect
    for _, arm in truth[truth["PFS_EVENT"] == 1].groupby("ARMCD"):
        rho = spearmanr(arm["IMMUNE_SCORE"], arm["PFS_DAYS"])[0]
        # progressors are a truncated sample of PFS, which attenuates the correlation a little
        assert model["rho_pfs"] - 0.2 < rho < model["rho_pfs"] + 0.1


def test_cli_simulates_chosen_stages_and_refuses_unknown_ones(tmp_path, cli):
    bad = cli("simulate", "--outdir", str(tmp_path / "bad"), "--subjects", "3", "--stages", "genomes")
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    assert bad.stderr.strip().splitlines() == [
        "biomarkers simulate: error: field 'stages': unknown simulation stage 'genomes' "
        "(stages: trial, custody, genome, clinical, expression, pathology, singlecell, flow)"]
    ok = cli("simulate", "--outdir", str(tmp_path / "c"), "--subjects", "3", "--stages", "clinical")
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["adam", "milestones.csv", "params.yaml", "subjects.csv", "truth"]


def test_every_file_is_the_same_for_one_or_two_workers(tmp_path, cli):
    """Every stage, a small trial: --cpus 1 writes in this process, --cpus 2 in two worker
    processes; each item draws from its own stream, so every file has the same bytes."""
    trials = {}
    for cpus in ("1", "2"):
        out = tmp_path / f"cpus{cpus}"
        proc = cli("simulate", "--outdir", str(out), "--subjects", "3", "--seed", "4", "--cpus", cpus)
        assert proc.returncode == 0, proc.stderr[-2000:]
        trials[cpus] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert len(trials["1"]) > 40 and any(name.endswith(".bam") for name in trials["1"])
    assert trials["1"].keys() == trials["2"].keys()
    differ = [name for name in trials["1"] if trials["1"][name] != trials["2"][name]]
    assert not differ, differ
    bad = cli("simulate", "--outdir", str(tmp_path / "bad"), "--subjects", "3", "--cpus", "0")
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    assert bad.stderr.strip() == "biomarkers simulate: error: field '--cpus': must be at least 1 (got 0)"
