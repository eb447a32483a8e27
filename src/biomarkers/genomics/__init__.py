"""Genomic biomarkers from sequencing data: tumour mutational burden and microsatellite instability.

Shared file handling (BAM/CRAM/FASTA opening with the checks users need) is in
:mod:`biomarkers.genomics._alignments`.
"""

from ._alignments import check_contigs, open_alignments, open_reference, read_group_samples
from ._samples import check_sample_names

__all__ = ["open_alignments", "open_reference", "check_contigs", "read_group_samples", "check_sample_names"]
