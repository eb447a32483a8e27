"""No function in src/ is longer than a reader can hold at once (numba kernels aside).

Long functions were split into named pieces (custody rules, violation injectors, the
genome stage, TMB counting); this keeps new ones from growing back. A numba kernel
(``@njit``/``@jit``) is exempt: splitting it costs a call per element.
"""

from __future__ import annotations

import ast
from pathlib import Path

MAX_LINES = 120
SRC = Path(__file__).resolve().parents[1] / "src" / "biomarkers"


def _is_numba_kernel(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"njit", "jit", "vectorize", "guvectorize"}:
            return True
    return False


def long_functions(root: Path = SRC, limit: int = MAX_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_numba_kernel(node):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_the_limit():
    assert long_functions() == []


def test_the_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(f"def long():\n{body}\n\n\nfrom numba import njit\n\n\n@njit\ndef kernel():\n{body}\n")
    assert [f.split(" ", 1)[1] for f in long_functions(tmp_path / "pkg")] == [f"long ({MAX_LINES + 1} lines)"]
