"""One synthesis of the bundled data with hostile text in it, shared by the escaping tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import RAW
from tests.security import hostile
from tests.security.hostile import Captured


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Captured]:
    """(folder holding raw/, processed/ and reports/, what the report was rendered from)."""
    tmp = tmp_path_factory.mktemp("hostile")
    data = tmp / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    hostile.make_hostile(data)
    result, cap = hostile.run_capturing(data, tmp / "processed", tmp / "reports")
    assert result.exit_code == 0, result.output
    return tmp, cap
