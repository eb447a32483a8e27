"""Expression signatures: the shipped gene lists and weights are the cited ones, and every
signature's score equals a hand computation on a small matrix."""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biomarkers.errors import InputError
from biomarkers.tme import load_gene_map, load_signatures, read_expression, read_salmon, score_signatures

# --- the published values, copied here from the sources (not from assets/) ------------
# T-cell-inflamed GEP: Ayers 2017 genes, Cristescu 2018 weights and housekeeping genes
# (checked against the easier package's compute.Tcell_inflamed and two independent scripts).
GEP_WEIGHTS = {
    "CCL5": 0.008346, "CD27": 0.072293, "CD274": 0.042853, "CD276": -0.0239, "CD8A": 0.031021,
    "CMKLR1": 0.151253, "CXCL9": 0.074135, "CXCR6": 0.004313, "HLA-DQA1": 0.020091, "HLA-DRB1": 0.058806,
    "HLA-E": 0.07175, "IDO1": 0.060679, "LAG3": 0.123895, "NKG7": 0.075524, "PDCD1LG2": 0.003734,
    "PSMB10": 0.032999, "STAT1": 0.250229, "TIGIT": 0.084767,
}
GEP_HOUSEKEEPING = {"STK11IP", "ZBTB34", "TBC1D10B", "OAZ1", "POLR2A", "G6PD", "ABCF1", "NRDE2", "UBB", "TBP", "SDHA"}
IFNG6 = {"IFNG", "STAT1", "IDO1", "CXCL10", "CXCL9", "HLA-DRA"}                     # Ayers 2017
CYT = {"GZMA", "PRF1"}                                                              # Rooney 2015
CD8_TEFF = {"CD8A", "GZMA", "GZMB", "IFNG", "CXCL9", "CXCL10", "PRF1", "TBX21"}     # Mariathasan 2018, Suppl. Fig. 6
DANAHER = {                                                                         # Danaher 2017, Table 1
    "DANAHER_B_CELLS": {"BLK", "CD19", "FCRL2", "MS4A1", "FAM30A", "TNFRSF17", "TCL1A", "SPIB", "PNOC"},
    "DANAHER_CD45": {"PTPRC"},
    "DANAHER_CYTOTOXIC": {"PRF1", "GZMA", "GZMB", "NKG7", "GZMH", "KLRK1", "KLRB1", "KLRD1", "CTSW", "GNLY"},
    "DANAHER_DC": {"CCL13", "CD209", "HSD11B1"},
    "DANAHER_EXHAUSTED_CD8": {"LAG3", "CD244", "EOMES", "PTGER4"},
    "DANAHER_MACROPHAGES": {"CD68", "CD84", "CD163", "MS4A4A"},
    "DANAHER_MAST_CELLS": {"TPSAB1", "TPSB2", "CPA3", "MS4A2", "HDC"},
    "DANAHER_NEUTROPHILS": {"FPR1", "SIGLEC5", "CSF3R", "FCAR", "FCGR3B", "CEACAM3", "S100A12"},
    "DANAHER_NK_CD56DIM": {"KIR2DL3", "KIR3DL1", "KIR3DL2", "IL21R"},
    "DANAHER_NK": {"XCL1", "XCL2", "NCR1"},
    "DANAHER_T_CELLS": {"CD6", "CD3D", "CD3E", "SH2D1A", "TRAT1", "CD3G"},
    "DANAHER_TH1": {"TBX21"},
    "DANAHER_TREG": {"FOXP3"},
    "DANAHER_CD8": {"CD8A", "CD8B"},
}


@pytest.fixture(scope="module")
def signatures():
    return {s.id: s for s in load_signatures()}


def test_shipped_genes_and_weights_are_the_cited_ones(signatures):
    gep = signatures["GEP"]
    assert dict(zip(gep.genes, gep.weights)) == GEP_WEIGHTS
    assert set(gep.housekeeping) == GEP_HOUSEKEEPING and gep.method == "weighted_sum_housekeeping"
    assert (gep.log_base, gep.pseudocount) == (2.0, 1.0)
    assert set(signatures["IFNG6"].genes) == IFNG6 and signatures["IFNG6"].method == "mean"
    assert set(signatures["CYT"].genes) == CYT and signatures["CYT"].method == "geometric_mean"
    assert signatures["CYT"].pseudocount == 0.01 and signatures["CYT"].log_base == math.e
    assert set(signatures["CD8_TEFF"].genes) == CD8_TEFF
    for sid, genes in DANAHER.items():
        assert set(signatures[sid].genes) == genes, sid
    assert sum(len(g) for g in DANAHER.values()) == 60  # Table 1: 60 marker genes, 14 cell types
    assert set(signatures) == {"GEP", "IFNG6", "CYT", "CD8_TEFF", *DANAHER}
    for sig in signatures.values():
        assert sig.references and sig.source, sig.id
    # every signature gene has an Ensembl ID in the shipped table
    gene_map = load_gene_map()
    needed = {g for s in signatures.values() for g in s.all_genes}
    assert needed <= gene_map.symbols
    assert len(set(gene_map.by_ensembl.values()) & needed) == len(needed)


# --- hand computation -------------------------------------------------------------

def _log2p1(x):
    return math.log2(x + 1.0)


def _hand_scores(tpm: dict[str, list[float]], n: int) -> dict[str, list[float]]:
    """Every shipped signature computed gene by gene from the published definitions."""
    out = {}
    gep = []
    for s in range(n):
        hk = sum(_log2p1(tpm[g][s]) for g in GEP_HOUSEKEEPING) / len(GEP_HOUSEKEEPING)
        gep.append(sum(w * (_log2p1(tpm[g][s]) - hk) for g, w in GEP_WEIGHTS.items()))
    out["GEP"] = gep
    out["CYT"] = [math.sqrt((tpm["GZMA"][s] + 0.01) * (tpm["PRF1"][s] + 0.01)) for s in range(n)]
    for sid, genes in {"IFNG6": IFNG6, "CD8_TEFF": CD8_TEFF, **DANAHER}.items():
        out[sid] = [sum(_log2p1(tpm[g][s]) for g in genes) / len(genes) for s in range(n)]
    return out


@pytest.fixture(scope="module")
def small_matrix(signatures):
    rng = np.random.default_rng(7)
    genes = sorted({g for s in signatures.values() for g in s.all_genes})
    n = 3
    values = {g: [float(np.round(rng.lognormal(2.0, 1.5), 3)) for _ in range(n)] for g in genes}
    values["GZMA"][0] = 0.0  # a zero: the pseudocounts matter
    for i in range(20):
        values[f"OTHER{i}"] = [float(np.round(rng.lognormal(4, 2), 3)) for _ in range(n)]
    return values, n


def _adata(values: dict[str, list[float]], n: int, kind: str, lengths=None) -> ad.AnnData:
    frame = pd.DataFrame(values, index=[f"S{i}" for i in range(n)])
    adata = ad.AnnData(X=frame.to_numpy(dtype=float), obs=pd.DataFrame(index=frame.index), var=pd.DataFrame(index=frame.columns))
    adata.uns["expression"] = {"values": kind, "file": "small", "format": "test"}
    if lengths is not None:
        adata.var["length"] = [lengths[g] for g in frame.columns]
    return adata


def test_every_signature_equals_a_hand_computation(small_matrix, signatures):
    values, n = small_matrix
    scores = score_signatures(_adata(values, n, "tpm"))
    expected = _hand_scores(values, n)
    assert set(scores["SIGNATURE"]) == set(expected) == set(signatures)
    for sid, hand in expected.items():
        got = scores[scores["SIGNATURE"] == sid].set_index("SAMPLE")["SCORE"]
        assert got.tolist() == pytest.approx(hand, rel=1e-12, abs=1e-12), sid
    assert (scores["STATUS"] == "SCORED").all() and (scores["GENES_MISSING"] == "").all()
    assert set(scores["NORMALIZATION"]) == {"TPM (as given)"}


def test_counts_become_tpm_with_lengths_and_cpm_without(small_matrix):
    values, n = small_matrix
    rng = np.random.default_rng(3)
    counts = {g: [float(rng.integers(0, 5000)) for _ in range(n)] for g in values}
    lengths = {g: float(rng.integers(500, 8000)) for g in values}
    for s in range(n):
        counts["PRF1"][s] = 0.0
    tpm_scores = score_signatures(_adata(counts, n, "counts", lengths))
    cpm_scores = score_signatures(_adata(counts, n, "counts"))
    tpm, cpm = {}, {}
    for s in range(n):
        rate_total = sum(counts[g][s] / lengths[g] for g in counts)
        library = sum(counts[g][s] for g in counts)
        for g in counts:
            tpm.setdefault(g, []).append(counts[g][s] / lengths[g] / rate_total * 1e6)
            cpm.setdefault(g, []).append(counts[g][s] / library * 1e6)
    for frame, linear, label in ((tpm_scores, tpm, "TPM (from counts and gene lengths)"),
                                 (cpm_scores, cpm, "CPM (from counts; no gene lengths)")):
        hand = _hand_scores(linear, n)
        for sid, expected in hand.items():
            got = frame[frame["SIGNATURE"] == sid]["SCORE"].tolist()
            assert got == pytest.approx(expected, rel=1e-10), (sid, label)
        assert set(frame["NORMALIZATION"]) == {label}


def test_missing_genes_within_and_beyond_tolerance(small_matrix):
    values, n = small_matrix
    trimmed = {g: v for g, v in values.items() if g not in {"CCL5", "IFNG", "GZMA", "CD3D", "CD3E", "CD3G"}}
    scores = score_signatures(_adata(trimmed, n, "tpm")).set_index(["SIGNATURE", "SAMPLE"])
    gep = scores.loc[("GEP", "S0")]
    assert gep["STATUS"] == "SCORED" and gep["GENES_MISSING"] == "CCL5" and gep["N_GENES_USED"] == 17
    # scored over the present genes, weights unchanged
    present = {g: w for g, w in GEP_WEIGHTS.items() if g != "CCL5"}
    hk = sum(_log2p1(values[g][0]) for g in GEP_HOUSEKEEPING) / len(GEP_HOUSEKEEPING)
    assert gep["SCORE"] == pytest.approx(sum(w * (_log2p1(values[g][0]) - hk) for g, w in present.items()), rel=1e-12)
    cyt = scores.loc[("CYT", "S0")]   # tolerance 0: one missing gene is too many
    assert cyt["STATUS"] == "NOT_SCORED" and np.isnan(cyt["SCORE"])
    assert cyt["NOTE"] == "not scored: 1 of 2 genes missing (tolerance 0)" and cyt["GENES_MISSING"] == "GZMA"
    t_cells = scores.loc[("DANAHER_T_CELLS", "S1")]
    assert t_cells["STATUS"] == "NOT_SCORED" and "3 of 6 genes missing (tolerance 2)" in t_cells["NOTE"]
    no_hk = {g: v for g, v in values.items() if g not in {"ABCF1", "G6PD", "OAZ1", "TBP"}}
    gep = score_signatures(_adata(no_hk, n, "tpm")).set_index(["SIGNATURE", "SAMPLE"]).loc[("GEP", "S2")]
    assert gep["STATUS"] == "NOT_SCORED" and "4 of 11 housekeeping genes missing (tolerance 3)" in gep["NOTE"]


def test_ensembl_ids_versions_previous_symbols_and_user_maps(small_matrix, tmp_path):
    values, n = small_matrix
    gene_map = load_gene_map()
    ensembl = {v: k for k, v in gene_map.by_ensembl.items()}
    renamed = {}
    for i, (gene, v) in enumerate(values.items()):
        if gene == "FAM30A":
            renamed["KIAA0125"] = v                      # a previous symbol
        elif gene == "NRDE2":
            renamed["C14orf102"] = v
        elif gene in ensembl and i % 2:
            renamed[f"{ensembl[gene]}.{i % 7 + 1}"] = v   # versioned Ensembl ID
        elif gene in ensembl:
            renamed[ensembl[gene]] = v
        else:
            renamed[gene] = v
    renamed["ENSG00000002586.20_PAR_Y"] = [1e5] * n     # a PAR_Y copy is never a signature gene
    reference = score_signatures(_adata(values, n, "tpm"))
    mapped = score_signatures(_adata(renamed, n, "tpm"))
    assert mapped["SCORE"].tolist() == pytest.approx(reference["SCORE"].tolist(), rel=1e-12)
    # a user's table: its own IDs for two genes
    user = tmp_path / "map.csv"
    user.write_text("gene_id,symbol\nmy_gzma,GZMA\nmy_prf1,PRF1\n")
    custom = {("my_gzma" if g == "GZMA" else "my_prf1" if g == "PRF1" else g): v for g, v in values.items()}
    scores = score_signatures(_adata(custom, n, "tpm"), gene_map=load_gene_map(user))
    assert scores[scores["SIGNATURE"] == "CYT"]["SCORE"].tolist() == pytest.approx(
        reference[reference["SIGNATURE"] == "CYT"]["SCORE"].tolist())


def test_rows_mapping_to_one_gene_are_summed(small_matrix, tmp_path):
    """Two IDs of one gene (e.g. a readthrough locus in a user's table) add up; a symbol row
    is used only when no ID row names the gene."""
    values, n = small_matrix
    split = {g: v for g, v in values.items() if g != "GZMA"}
    split["ENSG00000145649.8"] = [v / 4 for v in values["GZMA"]]   # GZMA's Ensembl ID
    split["LOCUS_B"] = [v * 3 / 4 for v in values["GZMA"]]
    user = tmp_path / "map.tsv"
    user.write_text("symbol\tgene_id\nGZMA\tLOCUS_B\n")
    scores = score_signatures(_adata(split, n, "tpm"), gene_map=load_gene_map(user))
    reference = score_signatures(_adata(values, n, "tpm"))
    assert scores["SCORE"].tolist() == pytest.approx(reference["SCORE"].tolist(), rel=1e-12)
    both = dict(values)
    both["ENSG00000145649"] = [1e4] * n   # an ID row wins over the symbol row
    cyt = score_signatures(_adata(both, n, "tpm"))
    cyt = cyt[cyt["SIGNATURE"] == "CYT"]["SCORE"].tolist()
    assert cyt == pytest.approx([math.sqrt((1e4 + 0.01) * (values["PRF1"][s] + 0.01)) for s in range(n)])


def test_matrix_formats_agree(small_matrix, tmp_path):
    values, n = small_matrix
    frame = pd.DataFrame(values, index=[f"S{i}" for i in range(n)]).T
    frame.index.name = "gene_id"
    frame.to_csv(tmp_path / "m.tsv.gz", sep="\t")
    frame.to_csv(tmp_path / "m.csv")
    frame.reset_index().to_parquet(tmp_path / "m.parquet")
    ad.AnnData(X=frame.T.to_numpy(), obs=pd.DataFrame(index=frame.columns), var=pd.DataFrame(index=frame.index)).write_h5ad(tmp_path / "m.h5ad")
    reference = score_signatures(_adata(values, n, "tpm"))["SCORE"].tolist()
    for name in ("m.tsv.gz", "m.csv", "m.parquet", "m.h5ad"):
        adata = read_expression(tmp_path / name, values="tpm")
        assert adata.obs_names.tolist() == ["S0", "S1", "S2"]
        assert score_signatures(adata)["SCORE"].tolist() == pytest.approx(reference, rel=1e-12), name


def test_featurecounts_table_carries_its_lengths(tmp_path):
    rows = ["# Program:featureCounts v2.0.6", "Geneid\tChr\tStart\tEnd\tStrand\tLength\tA\tB"]
    rng = np.random.default_rng(1)
    counts = {}
    for s in load_signatures():
        for g in s.all_genes:
            counts[g] = (int(rng.integers(100, 2000)), int(rng.integers(0, 500)), int(rng.integers(0, 500)))
    for g, (length, a, b) in counts.items():
        rows.append(f"{g}\tchr1\t1\t{length}\t+\t{length}\t{a}\t{b}")
    (tmp_path / "fc.txt").write_text("\n".join(rows) + "\n")
    adata = read_expression(tmp_path / "fc.txt", values="counts")
    assert adata.obs_names.tolist() == ["A", "B"]
    assert adata.var["length"].tolist() == [float(v[0]) for v in counts.values()]
    scores = score_signatures(adata)
    assert set(scores["NORMALIZATION"]) == {"TPM (from counts and gene lengths)"}


def test_salmon_transcripts_are_summed_per_gene(tmp_path):
    # two samples, GENCODE-style names: transcripts of one gene add up
    lines = ["Name\tLength\tEffectiveLength\tTPM\tNumReads"]
    tpms = {"GZMA": (300.0, 100.0), "PRF1": (50.0, 0.0)}
    files = {}
    for s in range(2):
        body = list(lines)
        body.append(f"ENST00000274306.7|ENSG00000145649.8|-|-|GZMA-201|GZMA|1000|protein_coding|\t1000\t800\t{tpms['GZMA'][s]}\t120")
        body.append(f"ENST00000999999.1|ENSG00000145649.8|-|-|GZMA-202|GZMA|500|protein_coding|\t500\t300\t{tpms['GZMA'][s] / 2}\t30")
        body.append(f"ENST00000441259.2|ENSG00000180644.8|-|-|PRF1-201|PRF1|2000|protein_coding|\t2000\t1800\t{tpms['PRF1'][s]}\t40")
        body.append(f"ENST00000000001.1|ENSG00000000001.1|-|-|X-201|X|2000|protein_coding|\t2000\t1800\t{1e6 - 1.5 * tpms['GZMA'][s] - tpms['PRF1'][s]}\t9000")
        path = tmp_path / f"s{s}" / "quant.sf"
        path.parent.mkdir()
        path.write_text("\n".join(body) + "\n")
        files[f"S{s}"] = path
    adata = read_salmon(files)
    cyt = score_signatures(adata)
    cyt = cyt[cyt["SIGNATURE"] == "CYT"]["SCORE"].tolist()
    assert cyt == pytest.approx([math.sqrt(450.01 * 50.01), math.sqrt(150.01 * 0.01)])
    assert adata.layers["counts"][0].tolist() == [9000.0, 150.0, 40.0]
    # plain transcript IDs need a transcript-to-gene table
    plain = tmp_path / "plain.sf"
    plain.write_text("Name\tLength\tEffectiveLength\tTPM\tNumReads\nENST00000274306.7\t1000\t800\t5\t3\n")
    with pytest.raises(InputError, match="transcript-to-gene table"):
        read_salmon({"S": plain})
    tx2gene = tmp_path / "tx2gene.tsv"
    tx2gene.write_text("ENST00000274306\tENSG00000145649\n")
    assert read_salmon({"S": plain}, tx2gene=tx2gene).var_names.tolist() == ["ENSG00000145649"]
