"""Genomic biomarkers from sequencing data: tumour mutational burden and microsatellite instability.

Shared file handling (BAM/CRAM/FASTA opening with the checks users need) is in
:mod:`biomarkers.genomics._alignments`.
"""

from ._alignments import check_contigs, open_alignments, open_reference, read_group_samples

__all__ = ["open_alignments", "open_reference", "check_contigs", "read_group_samples"]
