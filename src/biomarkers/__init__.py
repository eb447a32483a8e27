"""biomarkers: biospecimen custody and omics biomarkers of the NCT07007182 trial.

Capabilities are subpackages with a small public API of plain functions over
pandas, AnnData and pysam objects; the command line (:mod:`biomarkers.cli`) only
parses arguments and calls them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("biomarkers")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
