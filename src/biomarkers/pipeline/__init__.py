"""The embedded engine: run the pipeline's steps in-process on one machine.

``biomarkers run`` takes the same parameters as ``nextflow run .`` (declared once in
``nextflow_schema.json``), runs each available step in order and writes the same
files Nextflow would publish, plus ``pipeline_info/``.
"""

from ._params import load_params, param_specs, param_specs_for_cli, params_schema
from ._run import RunContext, run_pipeline
from ._steps import STEPS, Step

__all__ = ["RunContext", "run_pipeline", "STEPS", "Step", "load_params", "param_specs", "param_specs_for_cli", "params_schema"]
