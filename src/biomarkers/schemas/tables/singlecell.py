"""Single-cell RNA tables: PBMC composition (``immune/pbmc_sc_*``) and tumour composition (``tme/sc_*``)."""

from __future__ import annotations

import pyarrow as pa

from ... import names as N
from .._registry import Biomarker, Column, Table, register, specimen, studyid, timepoint, usubjid

# compartment -> (table name prefix, folder/file prefix, label in prose, biomarker modality)
COMPARTMENT_TABLES = {
    "pbmc": ("immune.pbmc_sc", "immune/pbmc_sc", "PBMC", "immune"),
    "tumor": ("tme.sc", "tme/sc", "tumour", "tme"),
}
# Biomarker names become column names of analysis.wide: identifiers, so American spelling.
_NAME = {"pbmc": "PBMC", "tumor": "tumor"}
_QC_DOC = "Specimen QC: PASS, LOW_CELLS (fewer cells than qc.<compartment>.min_cells after QC) or NO_CELLS"


def _keys() -> tuple[Column, ...]:
    return (studyid(), usubjid(), specimen(), timepoint(),
            Column("COMPARTMENT", pa.string(), "pbmc (blood) or tumor (dissociated tumour)", nullable=False))


def _fraction(name: str, doc: str) -> Column:
    return Column(name, pa.float64(), doc, unit="fraction")


for compartment, (table_prefix, path_prefix, label, modality) in COMPARTMENT_TABLES.items():
    register(Table(
        name=f"{table_prefix}_composition",
        path=f"{path_prefix}_composition.parquet",
        description=f"Single-cell RNA composition of {label} specimens: one row per specimen and cell type or state "
                    "(all of the marker panel's types, zero when absent, plus UNASSIGNED and states).",
        key=(N.SPECIMEN_ID, "CELL_TYPE"),
        columns=(
            *_keys(),
            Column("CELL_TYPE", pa.string(), "Cell type or state ID (assets/singlecell/markers.yaml), or UNASSIGNED", nullable=False),
            Column("PARENT_TYPE", pa.string(), "For a state (CD8_T_EXHAUSTED): its parent type; null for a cell type"),
            Column("IMMUNE", pa.bool_(), "Whether the type counts among immune cells (markers.yaml); null for UNASSIGNED"),
            Column("CELLS", pa.int64(), "Cells of this type (or state) after QC", unit="cells", nullable=False),
            _fraction("FRACTION", "CELLS / all cells kept after QC (unassigned included)"),
            _fraction("FRACTION_OF_IMMUNE", "CELLS / cells with an immune label; null for non-immune types"),
            _fraction("FRACTION_OF_PARENT", "For a state: CELLS / cells of its parent type (exhausted share of CD8 T)"),
            Column("QC", pa.string(), _QC_DOC, nullable=False),
        ),
    ))
    biomarkers = [
        Biomarker(column="CD8_T_FRACTION", name=f"scRNA {_NAME[compartment]} CD8 T fraction", modality=modality, unit="fraction",
                  cutoff="median", qc_column="QC"),
        Biomarker(column="TREG_FRACTION", name=f"scRNA {_NAME[compartment]} Treg fraction", modality=modality, unit="fraction",
                  cutoff="median", qc_column="QC"),
        Biomarker(column="CD8_EXHAUSTED_FRACTION", name=f"scRNA {_NAME[compartment]} exhausted fraction of CD8 T", modality=modality,
                  unit="fraction", cutoff="median", qc_column="QC"),
        Biomarker(column="CD8_TREG_RATIO", name=f"scRNA {_NAME[compartment]} CD8/Treg ratio", modality=modality, cutoff="median",
                  qc_column="QC"),
    ]
    if compartment == "tumor":
        biomarkers.append(Biomarker(column="IMMUNE_FRACTION", name="scRNA tumor immune fraction", modality=modality,
                                    unit="fraction", cutoff="median", qc_column="QC"))
    register(Table(
        name=f"{table_prefix}_summary",
        path=f"{path_prefix}_summary.parquet",
        description=f"Single-cell RNA biomarkers of {label} specimens: one row per specimen (fractions of immune cells, "
                    "exhausted share of CD8 T, CD8/Treg ratio).",
        key=(N.SPECIMEN_ID,),
        columns=(
            *_keys(),
            Column("N_CELLS", pa.int64(), "Cells kept after QC", unit="cells", nullable=False),
            Column("N_IMMUNE", pa.int64(), "Cells with an immune label", unit="cells", nullable=False),
            Column("N_UNASSIGNED", pa.int64(), "Cells in clusters that fit no marker set", unit="cells", nullable=False),
            _fraction("IMMUNE_FRACTION", "N_IMMUNE / N_CELLS"),
            _fraction("CD8_T_FRACTION", "CD8 T cells / immune cells"),
            _fraction("CD4_T_FRACTION", "Conventional CD4 T cells / immune cells"),
            _fraction("TREG_FRACTION", "Regulatory T cells / immune cells"),
            _fraction("NK_FRACTION", "NK cells / immune cells"),
            _fraction("B_FRACTION", "B cells / immune cells"),
            _fraction("CD8_EXHAUSTED_FRACTION", "Exhausted CD8 T cells / CD8 T cells; null without CD8 T cells"),
            Column("CD8_TREG_RATIO", pa.float64(), "CD8 T cells / regulatory T cells; null when no Treg was found", unit="ratio"),
            Column("QC", pa.string(), _QC_DOC, nullable=False),
        ),
        biomarkers=tuple(biomarkers),
    ))
    register(Table(
        name=f"{table_prefix}_qc",
        path=f"{path_prefix}_qc.parquet",
        description=f"Single-cell RNA QC of {label} specimens: one row per specimen and filter, in the order applied.",
        key=(N.SPECIMEN_ID, "STEP_INDEX"),
        columns=(
            *_keys(),
            Column("STEP_INDEX", pa.int32(), "Order of the step (1 = input)", nullable=False),
            Column("STEP", pa.string(), "input, min_genes, max_genes, min_counts, max_mito_fraction, doublets", nullable=False),
            Column("THRESHOLD", pa.string(), "Threshold applied (the doublet score threshold for doublets)"),
            Column("CELLS_BEFORE", pa.int64(), "Cells entering the step", unit="cells", nullable=False),
            Column("CELLS_REMOVED", pa.int64(), "Cells the step removed", unit="cells", nullable=False),
            Column("CELLS_AFTER", pa.int64(), "Cells kept by the step", unit="cells", nullable=False),
            Column("MEDIAN_GENES", pa.float64(), "Median detected genes of the cells kept", unit="genes"),
            Column("MEDIAN_COUNTS", pa.float64(), "Median counts of the cells kept", unit="counts"),
            Column("NOTE", pa.string(), "How the doublet threshold was set and how many cells were called"),
            Column("QC", pa.string(), _QC_DOC, nullable=False),
        ),
    ))
