"""bench/scale/protocols.py runs end to end in its quick form (its speed-ups are not asserted:
timing goals belong to the bench, not to tests)."""

from __future__ import annotations

import re

import pytest

from bench.scale import protocols as bench

PARALLEL = re.compile(
    r"(\d+\.\d\d) s \(cpu \d+\.\d\d s\), (\d+\.\d\d)x serial, outputs (.*), "
    r"\d+\.\d\dx serial's cpu"
)


def test_quick_protocols_bench_times_serial_processes_and_dask_with_equal_outputs() -> None:
    rows = dict(bench.run(quick=True))
    assert rows["protocols"] == "2"
    for cache in ("cold", "warm"):
        serial = rows[f"no orchestrator, serial, {cache} figure cache"]
        m = re.fullmatch(r"(\d+\.\d\d) s \(cpu (\d+\.\d\d) s\)", serial)
        assert m and float(m.group(1)) > 0
        for runner in ("processes", "dask"):
            m = PARALLEL.fullmatch(rows[f"no orchestrator, {runner}, {cache} figure cache"])
            assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0
            assert m.group(3) == "equal serial's"
    assert not any(name.startswith("orchestrated") for name in rows)


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_the_bench_times_only_the_figure_cache_asked_for(cache: str) -> None:
    rows = dict(bench.run(quick=True, caches=[cache]))
    timed = [name for name in rows if name.startswith("no orchestrator")]
    assert len(timed) == 3 and all(name.endswith(f", {cache} figure cache") for name in timed)
    m = PARALLEL.fullmatch(rows[f"no orchestrator, processes, {cache} figure cache"])
    assert m and m.group(3) == "equal serial's"
