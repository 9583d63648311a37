"""Data flows one way: the layers that do the work never import the layers that run or report it.

Walks every module of the package with ``ast`` (no import is executed) and fails on any import,
at module level or inside a function, from ``warehouse/``, ``modeling/``, ``sources/`` or ``llm/``
into ``defs/``, ``stages/``, ``bench/``, ``commands/``, the Dagster entry point or the tests.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ftm_assets"
LOWER_LAYERS = ("warehouse", "modeling", "sources", "llm")
UPPER_PREFIXES = ("ftm_assets.defs", "ftm_assets.stages", "ftm_assets.bench", "ftm_assets.commands",
                  "ftm_assets.definitions", "ftm_assets.cli", "ftm_assets_tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``path``; relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # ``from ftm_assets import defs`` names the layer in the alias
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


def is_upper(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in UPPER_PREFIXES)


def layer_violations(layer: str) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
            for path in sorted((PACKAGE / layer).rglob("*.py"))
            for line, name in imported_modules(path) if is_upper(name)]


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layer_imports_nothing_above_it(layer):
    assert (PACKAGE / layer).is_dir()
    assert layer_violations(layer) == []


def test_the_walk_sees_relative_lazy_and_aliased_imports(tmp_path, monkeypatch):
    """The checker itself: a forbidden import written any of the ways Python allows is found."""
    fake = tmp_path / "ftm_assets"
    (fake / "warehouse").mkdir(parents=True)
    (fake / "warehouse" / "bad.py").write_text(
        "from ..defs.partitions import key_to_quarter\n"
        "def f():\n    import ftm_assets.stages.firms\n"
        "from ftm_assets import bench\n"
        "from ftm_assets.warehouse.database import connect\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = sorted(v.split(" imports ")[1] for v in layer_violations("warehouse"))
    assert found == ["ftm_assets.bench", "ftm_assets.defs.partitions", "ftm_assets.defs.partitions.key_to_quarter",
                     "ftm_assets.stages.firms"]
