"""Tumour microenvironment: bulk-expression signatures, pathology and central-lab results,
and the per-subject eligibility and consistency checks that tie them to randomization.

Plain functions, I/O at the edges::

    adata = read_expression("counts.tsv.gz", values="counts", gene_lengths="lengths.tsv")
    scores = score_signatures(adata)                 # one row per sample and signature
    results = read_pathology("pathology.csv")       # long: one row per specimen and test
    checks = check_eligibility(results, subjects=randomization, msi=msi_table)

docs/tme.md and docs/pathology.md explain the methods, the defaults and their sources.
"""

from ._eligibility import (
    CHECKS, ELIGIBILITY_COLUMNS, FLAGGED, NOT_EVALUABLE, PASSED, EligibilityRules, check_eligibility,
    load_eligibility_rules,
)
from ._expression import SETTINGS, VALUE_KINDS, ExpressionSettings, read_expression, read_gene_lengths, read_salmon
from ._genemap import GeneMap, GeneMatch, load_gene_map, match_genes
from ._pathology import MMR_TESTS, PATHOLOGY_COLUMNS, PATHOLOGY_SCHEMA, TESTS, pathology_by_specimen, read_pathology
from ._score import NOT_SCORED, SCORE_COLUMNS, SCORED, normalization_of, score_signatures
from ._signatures import Signature, load_signatures

__all__ = [
    "read_expression", "read_salmon", "read_gene_lengths", "ExpressionSettings", "SETTINGS", "VALUE_KINDS",
    "GeneMap", "GeneMatch", "load_gene_map", "match_genes",
    "Signature", "load_signatures",
    "score_signatures", "normalization_of", "SCORE_COLUMNS", "SCORED", "NOT_SCORED",
    "read_pathology", "pathology_by_specimen", "PATHOLOGY_COLUMNS", "PATHOLOGY_SCHEMA", "TESTS", "MMR_TESTS",
    "check_eligibility", "load_eligibility_rules", "EligibilityRules", "ELIGIBILITY_COLUMNS", "CHECKS",
    "FLAGGED", "PASSED", "NOT_EVALUABLE",
]
