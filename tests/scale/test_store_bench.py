"""bench/scale/store.py runs end to end on a small store (its timings are not asserted: timing
goals belong to the bench, not to tests)."""

from __future__ import annotations

from bench.scale import store as bench


def test_the_quick_store_bench_gives_every_figure() -> None:
    rows = dict(bench.run(quick=True))
    assert len(rows) == 23
    assert rows["parse 2 files serial, CPU"].endswith("records/CPU-s)")
    assert rows["mdat pass at 2,097, asking about every cached PMID (before)"] == (
        "2,097 PMIDs, 11 esearch requests"
    )
    assert rows["mdat pass at 2,097, cited + live + snapshot only"].startswith(
        "97 PMIDs, 1 esearch request(s)"
    )
    assert any(k.startswith("bulk load 2,000 records") for k in rows)
    assert any(k.startswith("PMID lookup at 2,097") for k in rows)
    assert any(k.startswith("cached since") and "(97 PMIDs)" in k for k in rows)
    assert rows["synthesis outputs equal with either store"] == "yes"
    assert all(v for v in rows.values())
