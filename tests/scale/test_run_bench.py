"""bench/scale/run.py runs end to end in its quick form (its figures are not asserted against
goals: timing goals belong to the bench, not to tests)."""

from __future__ import annotations

import re

from bench.scale import run as bench


def test_quick_run_bench_gives_every_figure() -> None:
    rows = bench.run(quick=True)
    names = [name for name, _ in rows]
    assert names == [
        "evidence --help",
        "evidence validate",
        "run --no-orchestrator, cold figure cache",
        "run --no-orchestrator, warm figure cache",
        "run --no-orchestrator, warm, by step",
        "run (orchestrated) over an empty Prefect flow",
    ]
    timed = dict(rows[:-1])
    for name, value in timed.items():
        m = re.match(r"(\d+\.\d\d) s \(cpu (\d+\.\d\d) s\)", value)
        assert m and float(m.group(1)) > 0, (name, value)
    assert rows[-1][1] == "skipped (quick)"
    steps = re.findall(r"(\w+) (\d+\.\d\d) \(cpu (\d+\.\d\d)\)", timed[names[4]])
    assert [s for s, _, _ in steps] == [
        "import",
        "load",
        "tabulate",
        "pool",
        "rate",
        "report",
        "write",
    ]
