"""Protocols on a pool of warm worker processes (this machine's, or a local Dask cluster's): the
same bytes as one after another, and every protocol isolated (a failure, even a dead process,
named; the others complete)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from evidence.runs.daskpool import DaskPool
from evidence.runs.pools import Pool, open_pool, pool_for, pool_size
from evidence.runs.warmpool import WarmPool
from tests.conftest import synthesize

POOLS = ["processes", "dask"]


def copies(data: Path, n: int) -> Path:
    """n copies of the bundled protocol under new ids (same data files)."""
    src = yaml.safe_load((data / "protocols" / "baclofen.yaml").read_text(encoding="utf-8"))
    folder = data / "many"
    folder.mkdir()
    for i in range(n):
        src["protocol_id"] = f"copy{i:02d}"
        text = yaml.safe_dump(src, sort_keys=False)
        (folder / f"copy{i:02d}.yaml").write_text(text, encoding="utf-8")
    return folder


def written(root: Path) -> dict[str, bytes]:
    """Every file a run left under root, but the run locks (which name their holder's pid)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".evidence")
    }


@pytest.mark.parametrize("kind", POOLS)
def test_a_pool_writes_byte_for_byte_what_a_serial_run_writes(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-27")
    many = str(copies(data_copy, 3))
    runs = {}
    for runner in ("serial", kind):
        p, r = tmp_path / f"p-{runner}", tmp_path / f"r-{runner}"
        result = synthesize(data_copy, p, r, "--protocol", many, "--task-runner", runner,
                            "--workers", "2")  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[runner] = (written(p), written(r))
    tables, reports = runs[kind]
    assert {Path(k).parts[0] for k in tables} >= {"copy00", "copy01", "copy02", "runs"}
    assert len(reports) >= 3 and runs[kind] == runs["serial"]


@pytest.mark.parametrize("kind", POOLS)
def test_a_protocol_failing_in_a_worker_is_named_and_the_others_complete(
    data_copy: Path, tmp_path: Path, kind: str
) -> None:
    many = str(copies(data_copy, 3))
    p, r = tmp_path / "p", tmp_path / "r"
    r.mkdir()
    (r / "copy01").write_text("a file where copy01's report folder goes", encoding="utf-8")
    result = synthesize(data_copy, p, r, "--protocol", many, "--task-runner", kind,
                        "--workers", "2")  # fmt: skip
    assert result.exit_code == 1
    assert "1 of 3 protocol(s) failed: copy01" in result.output
    for ok in ("copy00", "copy02"):
        assert (p / ok / "pooled.csv").is_file() and (r / ok / "index.html").is_file()
    assert not (p / "copy01").exists()
    assert (r / "copy01").read_text(encoding="utf-8").startswith("a file")  # nothing lost


def survive_or_die(item: str) -> str:
    """A job that kills its process outright (no exception to catch) when told to."""
    if item == "die":
        os._exit(3)
    return f"{item} in {os.getpid()}"


@pytest.mark.parametrize("kind", POOLS)
def test_a_process_that_dies_fails_only_its_own_job(kind: str) -> None:
    with open_pool(kind, 2).start() as pool:
        results = pool.run(survive_or_die, ["a", "die", "b", "c"], lambda item: f"{item}: died")
        after = pool.run(survive_or_die, ["d", "e"], lambda item: f"{item}: died")
    assert results[1] == "die: died"
    assert [r.split(" in ")[0] for r in results[:1] + results[2:]] == ["a", "b", "c"]
    assert [r.split(" in ")[0] for r in after] == ["d", "e"]  # the pool was replaced


@pytest.mark.parametrize("kind", POOLS)
def test_workers_run_each_protocol_in_a_process_of_their_own_reused(kind: str) -> None:
    """Warm: the processes outlive their jobs (imports paid per process, not per job)."""
    with open_pool(kind, 2).start() as pool:
        pids = {r.split(" in ")[1] for r in pool.run(survive_or_die, list("abcdefgh"), str)}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2


def imported(_: object) -> tuple[bool, bool]:
    """In a worker: whether the synthesis, and whether Prefect, are loaded there."""
    return "evidence.pipeline" in sys.modules, "prefect" in sys.modules


@pytest.mark.parametrize("kind", POOLS)
def test_workers_are_warm_before_their_first_protocol_and_never_load_prefect(kind: str) -> None:
    with open_pool(kind, 2).start() as pool:
        seen = pool.run(imported, list(range(6)), lambda _: (False, False))
    assert seen == [(True, False)] * 6


@pytest.mark.parametrize(
    ("kind", "workers", "jobs", "address", "expected"),
    [
        ("serial", 2, 5, None, None),
        ("threads", 2, 5, None, None),
        ("processes", 2, 1, None, None),  # one protocol runs where it is asked for
        ("processes", 1, 5, None, None),
        ("processes", 4, 3, None, WarmPool),
        ("dask", 2, 5, None, DaskPool),
        ("threads", 2, 1, "tcp://127.0.0.1:9", DaskPool),  # an address always means its cluster
    ],
)
def test_the_pool_a_run_needs(
    kind: str, workers: int, jobs: int, address: str | None, expected: type | None
) -> None:
    pool = pool_for(kind, workers, jobs, address)
    if expected is None:
        assert pool is None
    else:
        assert isinstance(pool, expected)
        assert pool.workers == (min(workers, jobs) if address is None else workers)
        # the size `synthesize-many` asks for when it takes the pool this run started
        assert pool.workers == pool_size(workers, jobs, address)


def test_a_cluster_that_cannot_be_reached_is_told_to_the_caller() -> None:
    import dask

    never: Callable[[object], object] = str
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        pool: Pool = DaskPool(1, "tcp://127.0.0.1:9").start()
        with pytest.raises(OSError, match=r"127\.0\.0\.1:9"):
            pool.run(never, ["a"], never)
        pool.close()
