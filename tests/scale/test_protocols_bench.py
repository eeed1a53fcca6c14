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


def test_repeated_rounds_give_medians_and_each_rounds_speed_up() -> None:
    rows = dict(bench.run(quick=True, caches=["warm"], repeat=2))
    assert rows["no orchestrator, serial, warm figure cache"].endswith(", median of 2")
    value = rows["no orchestrator, dask, warm figure cache"]
    m = re.fullmatch(PARALLEL.pattern + r", median of 2 \(rounds (\d+\.\d\d)-(\d+\.\d\d)x\)", value)
    assert m and m.group(3) == "equal serial's"
    assert 0 < float(m.group(4)) <= float(m.group(5))


def test_a_figure_is_the_median_of_its_rounds_and_the_ratio_that_of_the_medians() -> None:
    serial = ([9.0, 6.0, 7.0], [7.0, 7.0, 7.0])
    value = bench.describe([4.0, 2.0, 3.0], [8.0, 6.0, 7.0], serial, True)
    assert value == (
        "3.00 s (cpu 7.00 s), 2.33x serial, outputs equal serial's, 1.00x serial's cpu, "
        "median of 3 (rounds 2.25-3.00x)"
    )
    assert "DIFFER FROM" in bench.describe([1.0], [1.0], ([1.0], [1.0]), False)
