"""The HTML report: self-contained, every section present, opens in headless chromium without console errors."""

from __future__ import annotations

import base64
import io
import re
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from biomarkers import names as N
from biomarkers import schemas
from biomarkers.outcomes import run_analysis
from biomarkers.protocol import load_protocol
from biomarkers.report import SECTIONS, build_report
from biomarkers.simulate import SimulatedTrial, stage_rng
from biomarkers.simulate._clinical import simulate_clinical
from biomarkers.simulate._trial import simulate_subjects

TABLE = "testfixture.report_marker"


def chromium_dom(tool, page, tmp_path) -> tuple[str, list[str]]:
    """(DOM after load, console lines) from Debian's headless chromium."""
    exe = tool("chromium")
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return proc.stdout, console


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    protocol = load_protocol()
    trial = SimulatedTrial(outdir=root / "trial", seed=5, n_subjects=45)
    simulate_subjects(trial, protocol, stage_rng(5, "trial"))
    simulate_clinical(trial, protocol, stage_rng(5, "clinical"))
    out = root / "results"
    subjects = trial.subjects
    # a biomarker table registered here (the report must find it generically), with its own QC plot
    schemas.TABLES[TABLE] = schemas.Table(
        name=TABLE, path="fixturemodality/marker.parquet", description="test marker", key=(N.USUBJID,),
        columns=(schemas.Column(N.USUBJID, pa.string(), "subject"), schemas.Column(N.TIMEPOINT, pa.string(), "timepoint"),
                 schemas.Column("SCORE", pa.float64(), "a score")),
        biomarkers=(schemas.Biomarker(column="SCORE", name="SCORE", modality="fixturemodality", cutoff="median"),))
    schemas.refresh_analysis_wide()
    schemas.write_table(pd.DataFrame({N.USUBJID: subjects[N.USUBJID], N.TIMEPOINT: "BASELINE", "SCORE": subjects["TMB_TARGET"]}), TABLE, out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.hist(subjects["TMB_TARGET"])
    (out / "fixturemodality" / "plots").mkdir(parents=True)
    fig.savefig(out / "fixturemodality" / "plots" / "qc_score.png")
    plt.close(fig)
    # custody tables as the custody step declares them
    rows = []
    for i, s in enumerate(subjects.itertuples()):
        for tp in ("BASELINE", "C2D1"):
            for st in ("BIOPSY_FFPE", "PLASMA"):
                rows.append({N.STUDYID: "NCT07007182", N.USUBJID: s.USUBJID, N.ARMCD: s.ARMCD, N.TIMEPOINT: tp,
                             N.SPECIMEN_TYPE: st, "EXPECTED": True, "COLLECTED": not (i % 7 == 0 and tp == "C2D1"),
                             "N_SPECIMENS": 1})
    schemas.write_table(pd.DataFrame(rows).assign(N_SPECIMENS=lambda f: f.COLLECTED.astype(int)), "custody.completeness", out)
    schemas.write_table(pd.DataFrame([{"RULE": "MISSED_COLLECTION", "SEVERITY": "WARNING", N.USUBJID: subjects[N.USUBJID][0],
                                       N.SPECIMEN_ID: None, N.TIMEPOINT: "C2D1", "EVENT_ID": None,
                                       "MESSAGE": "PLASMA <not collected> & due"}]), "custody.issues", out)
    # tables written by hand, not by a run: no run manifest
    run_analysis(out, adsl=trial.outdir / "adam/adsl.xpt", adtte=trial.outdir / "adam/adtte.xpt", adrs=trial.outdir / "adam/adrs.xpt",
                 allow_incomplete=True)
    page = build_report(out, allow_incomplete=True)
    yield out, page
    del schemas.TABLES[TABLE]
    schemas.refresh_analysis_wide()


def test_report_is_one_self_contained_file_with_every_section(results):
    out, page = results
    assert page == out / "report" / "index.html"
    html = page.read_text()
    for sid in [s.id for s in SECTIONS if s.required]:
        assert f'<section id="{sid}">' in html
    assert '<section id="modality-fixturemodality">' in html
    assert not re.search(r'(src|href)="(?!data:|#)', html), "every resource is embedded"
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    # arm and stratum and score KM curves, forest plot, heatmap, score distribution, the modality's own PNG
    assert len(images) >= 7
    import matplotlib.image as mpimg

    for data in images:
        assert mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png").shape[0] > 50
    assert "&lt;not collected&gt; &amp; due" in html          # text is escaped, not injected
    assert "exploratory" in html.lower()


def test_report_opens_in_headless_chromium_without_console_errors(results, tool, tmp_path):
    _, page = results
    dom, console = chromium_dom(tool, page, tmp_path)
    assert console == [], console
    for sid in [*(s.id for s in SECTIONS if s.required), "modality-fixturemodality"]:
        assert f'id="{sid}"' in dom
    assert dom.count("<img") >= 7


def test_console_check_catches_a_broken_page(tool, tmp_path):
    # the check above is only worth something if it sees errors when there are some
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("broken"); notDefined();</script></body></html>')
    _, console = chromium_dom(tool, bad, tmp_path)
    assert any("broken" in line for line in console) and any("Uncaught" in line for line in console)


def test_report_without_analysis_or_custody_still_has_every_section(tmp_path, cli):
    (tmp_path / "results").mkdir()
    proc = cli("report", "--results", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "results" / "report" / "index.html").read_text()
    assert all(f'<section id="{s.id}">' in html for s in SECTIONS if s.required)
    assert "Not available" in html
    missing = cli("report", "--results", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "results folder not found" in missing.stderr


def test_report_from_inputs_staged_as_symbolic_links(results, tmp_path):
    """Nextflow stages a task's inputs as links (custody/*, genomics/*, analysis/*): same report."""
    out, page = results
    staged = tmp_path / "work"
    for folder in ("custody", "fixturemodality", "analysis"):
        (staged / folder).mkdir(parents=True)
        for item in (out / folder).iterdir():
            (staged / folder / item.name).symlink_to(item)
    html = build_report(staged, allow_incomplete=True).read_text()
    original = page.read_text()
    assert html.count("data:image/png;base64,") == original.count("data:image/png;base64,") >= 7
    assert '<section id="modality-fixturemodality">' in html
