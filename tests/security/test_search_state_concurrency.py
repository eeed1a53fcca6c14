"""The living search's state survives indications searched at once, by threads and processes.

Every update is a read-modify-write under the lock beside the state file, finished by an atomic
replace: no watermark or failure record is lost, the file is always whole JSON, and a held lock
is waited for (up to the timeout), never bypassed.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from evidence.pubmed import search
from evidence.pubmed.search import (
    load_state,
    record_failure,
    record_success,
    state_lock_path,
)
from evidence.runs.runlock import RunLocked

ROOT = Path(__file__).resolve().parents[2]
BASE = date(2026, 1, 1)
ROUNDS = 30
THREADS = 8
PROCESSES = 4

# One indication's updates: a failure, then a success, each round; the last round's stay.
WORKER = """
import sys
from datetime import date, timedelta
from pathlib import Path
from evidence.pubmed.search import record_failure, record_success
path, indication, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
base = date(2026, 1, 1)
for i in range(rounds):
    day = base + timedelta(days=i)
    record_failure(path, "proto", indication, day, f"error {i}")
    record_success(path, "proto", indication, day, count=i, term=f"term {indication}")
    record_failure(path, "proto", indication + "-failing", day, f"error {i}")
"""


def _updates(path: Path, indication: str, rounds: int) -> None:
    for i in range(rounds):
        day = BASE + timedelta(days=i)
        record_failure(path, "proto", indication, day, f"error {i}")
        record_success(path, "proto", indication, day, count=i, term=f"term {indication}")
        record_failure(path, "proto", indication + "-failing", day, f"error {i}")


def test_concurrent_threads_and_processes_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "pubmed" / "search_state.json"
    path.parent.mkdir()
    # An entry written before (another protocol) must survive every update.
    path.write_text(json.dumps({"other": {"x": {"last_search": "2025-12-31"}}}), "utf-8")

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), f"proc{n}", str(ROUNDS)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    invalid: list[str] = []
    done = threading.Event()

    def read_always() -> None:
        while not done.is_set():
            try:
                json.loads(path.read_text("utf-8"))
            except ValueError as exc:
                invalid.append(str(exc))

    reader = threading.Thread(target=read_always)
    reader.start()
    errors: list[BaseException] = []

    def work(indication: str) -> None:
        try:
            _updates(path, indication, ROUNDS)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"thread{n}",)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    done.set()
    reader.join()

    assert not errors, errors
    assert not invalid, f"the state file was read half-written: {invalid[:3]}"
    state = json.loads(path.read_text("utf-8"))
    assert state["other"] == {"x": {"last_search": "2025-12-31"}}
    last = (BASE + timedelta(days=ROUNDS - 1)).isoformat()
    names = [f"thread{n}" for n in range(THREADS)] + [f"proc{n}" for n in range(PROCESSES)]
    lost = [n for n in names if state["proto"].get(n, {}).get("last_search") != last]
    lost_failures = [
        n
        for n in names
        if state["proto"].get(n + "-failing", {}).get("last_failure", {}).get("date") != last
    ]
    assert not lost, f"watermarks lost for {lost}"
    assert not lost_failures, f"failure records lost for {lost_failures}"
    for n in names:
        assert state["proto"][n] == {
            "last_search": last,
            "count": ROUNDS - 1,
            "term": f"term {n}",
        }
        assert state["proto"][n + "-failing"]["last_failure"] == {
            "date": last,
            "error": f"error {ROUNDS - 1}",
        }
    # The format is unchanged: sorted keys, two-space indent, a final newline.
    expected = json.dumps(state, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert path.read_text("utf-8") == expected
    assert load_state(path) == state


def _hold(path: Path) -> int:
    """Take the state's lock as another search would, returning the fd that holds it."""
    fd = os.open(state_lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_held_lock_is_waited_for_not_bypassed(tmp_path: Path) -> None:
    path = tmp_path / "search_state.json"
    record_success(path, "proto", "a", BASE, count=1, term="t")
    before = path.read_bytes()
    fd = _hold(path)
    writer = threading.Thread(
        target=record_success,
        args=(path, "proto", "b", BASE),
        kwargs={"count": 2, "term": "t"},
    )
    try:
        writer.start()
        writer.join(0.5)
        assert writer.is_alive(), "the update did not wait for the held lock"
        assert path.read_bytes() == before
    finally:
        os.close(fd)
    writer.join()
    state = load_state(path)
    assert state["proto"]["a"]["last_search"] == BASE.isoformat()
    assert state["proto"]["b"]["last_search"] == BASE.isoformat()


def test_a_lock_held_past_the_timeout_fails_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "search_state.json"
    record_success(path, "proto", "a", BASE, count=1, term="t")
    before = path.read_bytes()
    monkeypatch.setattr(search, "STATE_LOCK_TIMEOUT", 0.1)
    fd = _hold(path)
    try:
        with pytest.raises(RunLocked, match=r"search_state\.json.*nothing was changed"):
            record_failure(path, "proto", "a", BASE, "boom")
        with pytest.raises(RunLocked):
            record_success(path, "proto", "b", BASE, count=2, term="t")
    finally:
        os.close(fd)
    assert path.read_bytes() == before


def test_the_lock_file_is_ignored_by_git(tmp_path: Path) -> None:
    lock = state_lock_path(ROOT / "data" / "raw" / "pubmed" / search.STATE_FILE)
    assert lock.parent == ROOT / "data" / "raw" / "pubmed"
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(lock)], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0, f"{lock} is not gitignored"
