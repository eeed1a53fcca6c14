"""One run on the bundled data, shared by the table tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RAW, synthesize


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(processed, reports) folders of the bundled protocol after one run."""
    tmp = tmp_path_factory.mktemp("bundled")
    result = synthesize(RAW, tmp / "p", tmp / "r")
    assert result.exit_code == 0, result.output
    return tmp / "p" / "baclofen", tmp / "r" / "baclofen"
