"""The package's shape, as docs/architecture.md states it: layers, thin commands, small functions, one vocabulary.

These tests read the source (every import statement, every CLI handler, every function)
rather than trusting a convention.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SRC = ROOT / "src" / "biomarkers"

# Layer of each top-level module or package (docs/architecture.md); higher may import lower.
LAYERS = {
    "__init__": 0, "__main__": 6, "names": 0, "log": 0, "errors": 0,
    "io": 1, "assets": 1, "workers": 1,
    "schemas": 2, "manifest": 2, "protocol": 2, "samplesheet": 2, "trialdata": 2, "identifiers": 2,
    "custody": 3, "genomics": 3, "immune": 3, "singlecell": 3, "tme": 3, "outcomes": 3, "report": 3, "simulate": 3,
    "pipeline": 4,
    "cli": 5,
}
CAPABILITIES = {name for name, layer in LAYERS.items() if layer == 3}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module imported) for every import statement, nested ones included."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or target == "biomarkers":
                # `from .. import names`: each imported name is a module (or the package's own attribute)
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "biomarkers" or name.startswith("biomarkers.")]


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_top_level_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS and docs/architecture.md: {sorted(tops - set(LAYERS))}"


def test_imports_only_go_down_the_layers():
    wrong = []
    for module, path in _modules():
        here = _top(module)
        for line, target in _imports(module, path):
            there = _top(target)
            if there not in LAYERS:
                continue  # an attribute of the package root, e.g. __version__
            if LAYERS[there] > LAYERS[here]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({there}, layer {LAYERS[there]}) "
                             f"from layer {LAYERS[here]}")
    assert not wrong, "\n".join(wrong)


def test_capabilities_use_each_other_only_through_their_faces():
    """A capability may call another capability's public API (its __init__), never its private modules."""
    wrong = []
    for module, path in _modules():
        here = _top(module)
        if here not in CAPABILITIES:
            continue
        for line, target in _imports(module, path):
            there = _top(target)
            if there in CAPABILITIES and there != here and any(p.startswith("_") for p in target.split(".")[2:]):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_string_imports_outside_the_cli_command_table():
    """Static tools and readers can follow every import; the CLI's explicit command table is the one exception."""
    wrong = []
    for module, path in _modules():
        if module == "biomarkers.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in ("importlib.import_module", "import_module", "__import__"):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not wrong, "\n".join(wrong)


def test_capability_faces_hold_no_implementation():
    """A capability's __init__.py re-exports; its code lives in private modules."""
    wrong = []
    for init in sorted(SRC.rglob("__init__.py")):
        top = init.relative_to(SRC).parts[0]
        if top not in CAPABILITIES:
            continue
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                wrong.append(f"{init.relative_to(ROOT)}:{node.lineno} defines {node.name}")
    assert not wrong, "\n".join(wrong)


# --- thin commands -------------------------------------------------------------

def _command_units(path: Path) -> list[tuple[str, list[ast.stmt]]]:
    """(name, statements) of each command handler of a cli module: main, the functions main dispatches
    to, and each branch of an if/elif on the subcommand."""
    tree = ast.parse(path.read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    units = []
    for name, fn in functions.items():
        if name == "add_arguments" or (name != "main" and not (fn.args.args and fn.args.args[0].arg == "args")):
            continue
        body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        branches = [s for s in body if isinstance(s, ast.If)]
        if branches:
            rest = [s for s in body if not isinstance(s, ast.If)]
            node = branches[0]
            i = 0
            while isinstance(node, ast.If):
                units.append((f"{name}[{i}]", [*rest, *node.body]))
                i += 1
                if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                    node = node.orelse[0]
                else:
                    if node.orelse:
                        units.append((f"{name}[{i}]", [*rest, *node.orelse]))
                    node = None
        else:
            units.append((name, body))
    return units


def _api_calls(stmts: list[ast.stmt], imported: set[str]) -> set[str]:
    calls = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.split(".")[0] in imported and not name.endswith("raise_if_broken"):
                    calls.add(name)
    return calls


COMMAND_MODULES = sorted((SRC / "cli").glob("*.py"))


@pytest.mark.parametrize("path", [p for p in COMMAND_MODULES if p.name != "__init__.py"], ids=lambda p: p.stem)
def test_each_command_calls_one_public_function(path):
    tree = ast.parse(path.read_text())
    imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module and (node.level or node.module.startswith("biomarkers")) for alias in node.names}
    imported -= {"InputError"}  # raising an error is parsing, not work
    units = _command_units(path)
    assert units, f"{path.name} has no command handler"
    for name, stmts in units:
        calls = _api_calls(stmts, imported)
        assert len(calls) <= 1 and not any(c.split(".")[-1].startswith("_") for c in calls), \
            f"{path.stem} {name} calls {sorted(calls)}: a handler calls one public function"
        assert len(stmts) <= 8, f"{path.stem} {name} has {len(stmts)} statements: move the work into the capability"


# --- trial facts in one place ----------------------------------------------------

def test_the_simulator_uses_the_pipelines_tmb_rules():
    """The simulator's copies of the TMB rules (which variants it makes countable) equal assets/tmb.yaml."""
    sim = yaml.safe_load((ROOT / "assets" / "simulation.yaml").read_text())["genome"]
    rules = yaml.safe_load((ROOT / "assets" / "tmb.yaml").read_text())
    assert sim["somatic"]["tmb_high_cutoff"] == rules["tmb_high"]
    assert (sim["callable"]["min_depth"], sim["callable"]["min_mapq"], sim["callable"]["min_base_quality"]) == \
        (rules["callable"]["min_depth"], rules["callable"]["min_mapq"], rules["callable"]["min_baseq"])
    counting = sim["counting"]
    assert (counting["min_depth"], counting["min_alt_reads"], counting["min_vaf"], counting["max_population_af"]) == \
        (rules["variants"]["min_depth"], rules["variants"]["min_alt_reads"], rules["variants"]["min_vaf"],
         rules["population"]["max_af"])


def test_the_tmb_biomarker_cutoff_is_the_rules_cutoff():
    from biomarkers import schemas

    tmb = next(b for b in schemas.TABLES["genomics.tmb"].biomarkers if b.name == "TMB")
    assert tmb.cutoff == yaml.safe_load((ROOT / "assets" / "tmb.yaml").read_text())["tmb_high"]
