"""The embedded engine: run the pipeline's steps in-process on one machine.

``biomarkers run`` takes the same parameters as ``nextflow run .`` (declared once in
``nextflow_schema.json``), runs each available step in order (``steps/``, one module
per step) and writes the same files Nextflow would publish, plus ``pipeline_info/``.
"""

from ._context import RunContext, Step, available_cpus
from ._engine import run_demo, run_params_file, run_pipeline, software_versions
from ._provenance import hash_staged_file, write_staged_provenance
from ._params import load_params, param_groups, param_specs, param_specs_for_cli, params_schema
from ._validate import check_inputs, check_staged_file, validate_params_file
from .steps import STEPS

__all__ = ["RunContext", "Step", "STEPS", "available_cpus", "run_pipeline", "run_params_file", "run_demo", "software_versions", "check_inputs", "check_staged_file", "validate_params_file",
           "hash_staged_file", "write_staged_provenance", "load_params", "param_specs",
           "param_specs_for_cli", "param_groups", "params_schema"]
