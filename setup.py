"""The one compiled part of the package: the MSI caller's read loop (genomics/msi/_kernel.pyx).

It is built against pysam's own Cython declarations and htslib headers (pysam ships
both), so it links to nothing but the pysam installed beside it. The extension is
optional: without a C compiler the install still succeeds and the caller runs its
Python loop (same results, about 3x the CPU time; docs/msi.md).
"""

import pysam
from Cython.Build import cythonize
from setuptools import Extension, setup

kernel = Extension(
    "biomarkers.genomics.msi._kernel",
    ["src/biomarkers/genomics/msi/_kernel.pyx"],
    include_dirs=pysam.get_include(),
    define_macros=pysam.get_defines() + [("BIOMARKERS_PYSAM_VERSION", f'"{pysam.__version__}"')],
    optional=True,
)

setup(ext_modules=cythonize([kernel], compiler_directives={"language_level": 3}, quiet=True))
