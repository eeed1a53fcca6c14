"""The package's lazy names: every public name resolves to what its module defines."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import evidence.meta as meta

INIT = Path(meta.__file__)


def test_every_public_name_resolves_to_its_modules_object() -> None:
    assert set(meta.__all__) == set(meta._SOURCES)
    for name, module in meta._SOURCES.items():
        defined = getattr(importlib.import_module(f"evidence.meta.{module}"), name)
        assert getattr(meta, name) is defined, name


def test_the_type_checking_imports_name_the_same_sources() -> None:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    declared: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evidence.meta."):
            for alias in node.names:
                declared[alias.name] = node.module.rsplit(".", 1)[1]  # type: ignore[union-attr]
    assert declared == meta._SOURCES


def test_no_public_name_is_shadowed_by_a_submodule() -> None:
    """A function named like its module (e.g. influence) would be replaced by the module."""
    modules = {p.stem for p in INIT.parent.glob("*.py")}
    assert not (set(meta._SOURCES) & modules)
