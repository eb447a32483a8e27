"""Every output table, one module per capability; importing this package declares them all.

A new modality adds its module here, before ``analysis``: the analysis tables are
declared last because ``analysis.wide`` has columns for every biomarker declared
before it.
"""

from . import custody, genomics, immune, singlecell  # noqa: F401  (declare the modality tables)
from . import tme  # noqa: F401
from . import pipeline  # noqa: F401
from . import analysis  # noqa: F401  (last: reads every biomarker declared above)
