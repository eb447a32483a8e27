"""The msi step of `biomarkers run` on a tiny samplesheet: one paired tumour, one tumour-only against a panel of normals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from msi_helpers import design, write_fasta
from test_msi import SPECS, _sample

from biomarkers.pipeline import _params
from biomarkers.pipeline import run_pipeline


def test_msi_step_paired_and_tumour_only(tmp_path):
    rng = np.random.default_rng(11)
    specs = SPECS + [("A", 10 + i % 6) if i % 2 else ("CA", 6 + i % 5) for i in range(33)]
    seq, sites = design(rng, specs)
    fasta = write_fasta(tmp_path / "genome.fa", {"chr1": seq})
    ref = {"seq": seq, "sites": sites, "fasta": fasta}
    (tmp_path / "pon").mkdir()
    for j in range(3):
        _sample(ref, tmp_path / "pon" / f"PON{j + 1}.bam", rng)
    normal = _sample(ref, tmp_path / "N1.bam", rng)
    paired = _sample(ref, tmp_path / "T1.bam", rng, unstable=set(range(0, 40, 2)))
    alone = _sample(ref, tmp_path / "T2.bam", rng)
    sheet = tmp_path / "samplesheet.csv"
    sheet.write_text(
        "subject,specimen,timepoint,specimen_type,assay,file,normal_specimen\n"
        f"NCT07007182-01-001,SP-T1,BASELINE,DNA,wes_tumor,{paired},SP-N1\n"
        f"NCT07007182-01-001,SP-N1,BASELINE,DNA,wes_normal,{normal},\n"
        f"NCT07007182-01-002,SP-T2,BASELINE,DNA,wes_tumor,{alone},\n")
    params = _params.load_params(None, {"input": str(sheet), "outdir": str(tmp_path / "results"), "fasta": str(fasta),
                                        "pon": str(tmp_path / "pon" / "*.bam")})
    status = run_pipeline(params, only=["msi"])
    assert status == {"msi": "done"}
    out = tmp_path / "results" / "genomics"
    table = pd.read_parquet(out / "msi.parquet")
    assert table[["SPECIMEN_ID", "MODE", "MSI_STATUS", "SITES_EVALUATED", "SITES_UNSTABLE"]].values.tolist() == [
        ["SP-T1", "paired", "MSI-H", 40, 20], ["SP-T2", "tumor_only", "MSS", 40, 0]]
    assert table["STUDYID"].eq("NCT07007182").all() and table["NORMAL_SPECIMEN_ID"].tolist() == ["SP-N1", None]
    assert (out / "msi" / "sites.tsv.gz").exists() and (out / "msi" / "baseline.tsv.gz").exists()
    assert (out / "msi_scores.png").exists() and (out / "msi_sites_SP-T1.png").exists()
    inputs = pd.read_parquet(tmp_path / "results" / "pipeline_info" / "inputs.parquet")
    assert (inputs["ROLE"] == "msi:pon").sum() == 3
    # same inputs, same bytes
    again = {**params, "outdir": str(tmp_path / "again")}
    run_pipeline(again, only=["msi"])
    for name in ("msi.parquet", "msi_sites/SP-T1.parquet", "msi_sites/SP-T2.parquet", "msi_sites/_common_metadata", "msi/sites.tsv.gz", "msi/baseline.tsv.gz", "msi_scores.png"):
        assert (out / name).read_bytes() == (tmp_path / "again" / "genomics" / name).read_bytes(), name
