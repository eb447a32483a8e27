"""Real data: 10 TCGA gastric adenocarcinomas (HTSeq counts, GENCODE v22 Ensembl IDs).

EBV-positive gastric cancers are strongly T-cell inflamed, genomically stable ones are
not: every EBV-positive tumour must score above every genomically stable one on the
IFN-gamma and cytolytic signatures, and the GEP must rank the EBV-positive tumour higher
in at least 24 of the 25 EBV/GS pairs (one EBV-positive tumour has a low GEP).
"""

from __future__ import annotations

import pandas as pd
import pytest

from biomarkers.tme import read_expression, score_signatures

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def tcga():
    from conftest import real_data_path

    counts = real_data_path("expression/tcga_stad_10_counts.tsv.gz")
    subtypes = pd.read_csv(real_data_path("expression/tcga_stad_10_subtypes.tsv"), sep="\t").set_index("sample")
    adata = read_expression(counts, values="counts")
    scores = score_signatures(adata)
    return adata, scores, subtypes


def _pairs(scores: pd.DataFrame, subtypes: pd.DataFrame, signature: str) -> int:
    by_sample = scores[scores["SIGNATURE"] == signature].set_index("SAMPLE")["SCORE"]
    ebv = by_sample[subtypes.index[subtypes["tcga_subtype"] == "EBV"]]
    gs = by_sample[subtypes.index[subtypes["tcga_subtype"] == "GS"]]
    assert len(ebv) == 5 and len(gs) == 5
    return sum(int(e > g) for e in ebv for g in gs)


def test_tcga_gastric_is_read_mapped_and_scored(tcga):
    adata, scores, subtypes = tcga
    assert adata.shape == (10, 60483)
    assert set(adata.obs_names) == set(subtypes.index)
    assert (scores["STATUS"] == "SCORED").all()
    assert (scores["GENES_MISSING"] == "").all()          # every signature gene has its Ensembl ID there
    assert set(scores["NORMALIZATION"]) == {"CPM (from counts; no gene lengths)"}


def test_ebv_positive_tumours_are_inflamed(tcga):
    _, scores, subtypes = tcga
    assert _pairs(scores, subtypes, "IFNG6") == 25
    assert _pairs(scores, subtypes, "CYT") == 25
    assert _pairs(scores, subtypes, "GEP") >= 24
    assert _pairs(scores, subtypes, "CD8_TEFF") == 25
