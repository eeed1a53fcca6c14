"""The temporary server launched before Prefect is imported: only where that is plainly safe."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from flows import launch as launch_module
from flows.launch import START_LOCK, launch


@pytest.fixture(autouse=True)
def no_harness_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests give the environment; a test server this session runs is not theirs."""
    monkeypatch.setattr(launch_module, "api_in_settings", lambda: False)


def test_no_early_server_without_a_named_home_or_with_a_configured_api(tmp_path: Path) -> None:
    assert launch({"PATH": os.environ["PATH"]}) is None
    home = {"PREFECT_HOME": str(tmp_path)}
    assert launch({**home, "PREFECT_API_URL": "http://127.0.0.1:4200/api"}) is None


def test_no_early_server_when_the_active_profile_names_an_api(tmp_path: Path) -> None:
    (tmp_path / "profiles.toml").write_text(
        'active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://h:4200/api"\n'
        "[profiles.local]\n",
        encoding="utf-8",
    )
    assert launch({"PREFECT_HOME": str(tmp_path)}) is None
    # another profile chosen in the environment: it names none, so a server is launched
    chosen = launch({"PREFECT_HOME": str(tmp_path), "PREFECT_PROFILE": "local"})
    assert chosen is not None
    chosen.discard()


def test_no_early_server_while_another_run_starts_one_in_the_same_home(tmp_path: Path) -> None:
    fd = os.open(tmp_path / START_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert launch({"PREFECT_HOME": str(tmp_path)}) is None
    finally:
        os.close(fd)


def test_an_early_server_holds_the_start_lock_until_it_is_discarded(tmp_path: Path) -> None:
    early = launch({**os.environ, "PREFECT_HOME": str(tmp_path)})
    assert early is not None and early.process.poll() is None
    assert launch({**os.environ, "PREFECT_HOME": str(tmp_path)}) is None  # the turn is taken
    early.discard()
    assert early.process.returncode is not None
    again = launch({**os.environ, "PREFECT_HOME": str(tmp_path)})
    assert again is not None
    again.discard()


def test_a_run_whose_protocols_do_not_load_ends_the_server_it_launched(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run launches its server before loading the protocols; with none to run, it ends it
    (and frees the start lock) rather than leaving it booting."""
    from typer.testing import CliRunner

    from evidence.cli import app

    real, launched = launch_module.launch, []

    def recorded(*args: dict[str, str]) -> launch_module.Launched | None:
        launched.append(real(*args))
        return launched[-1]

    monkeypatch.setattr(launch_module, "launch", recorded)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    broken = data_copy / "protocols" / "broken.yaml"
    broken.write_text("protocol_id: [\n", encoding="utf-8")
    dirs = ["--data", str(data_copy), "--processed", str(tmp_path / "p"),
            "--reports", str(tmp_path / "r")]  # fmt: skip
    result = CliRunner().invoke(app, ["run", "--protocol", str(broken), *dirs])
    assert result.exit_code != 0 and "broken.yaml" in result.output
    assert len(launched) == 1 and launched[0] is not None
    assert launched[0].process.returncode is not None  # ended, not left to boot
    again = real({**os.environ, "PREFECT_HOME": str(tmp_path / "home")})
    assert again is not None  # the start lock is free
    again.discard()

