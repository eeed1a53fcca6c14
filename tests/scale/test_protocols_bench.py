"""bench/scale/protocols.py runs end to end in its quick form (its speed-ups are not asserted:
timing goals belong to the bench, not to tests)."""

from __future__ import annotations

import re

from bench.scale import protocols as bench


def test_quick_protocols_bench_times_serial_and_processes_with_equal_outputs() -> None:
    rows = dict(bench.run(quick=True))
    assert rows["protocols"] == "2"
    serial = re.fullmatch(r"(\d+\.\d\d) s \(cpu (\d+\.\d\d) s\)", rows["no orchestrator, serial"])
    assert serial and float(serial.group(1)) > 0
    parallel = rows["no orchestrator, processes"]
    m = re.fullmatch(
        r"(\d+\.\d\d) s \(cpu \d+\.\d\d s\), (\d+\.\d\d)x serial, outputs (.*), "
        r"\d+\.\d\dx serial's cpu",
        parallel,
    )
    assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0
    assert m.group(3) == "equal serial's"
    assert not any(name.startswith("orchestrated") for name in rows)
