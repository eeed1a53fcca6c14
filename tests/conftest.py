"""Shared fixtures: the project root and disposable copies of the bundled data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from evidence.cli import app

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
SHARED_EVIDENCE = ROOT.parent / "shared" / "evidence"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of data/raw (without the PubMed cache, which no test here needs)."""
    dest = tmp_path / "raw"
    shutil.copytree(RAW, dest, ignore=shutil.ignore_patterns("pubmed"))
    return dest


def synthesize(data: Path, processed: Path, reports: Path, *extra: str) -> Result:
    """`evidence run --no-orchestrator` on the given directories, in this process."""
    return CliRunner().invoke(
        app,
        [
            "run",
            "--no-orchestrator",
            "--data",
            str(data),
            "--processed",
            str(processed),
            "--reports",
            str(reports),
            *extra,
        ],
    )
