"""bench/meta_bench.py runs end to end on tiny sizes (its figures are not asserted: timing goals
belong to the bench, not to tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "meta_bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("meta_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_bench_produces_every_python_figure(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    figures = bench.main(["--quick"])
    err = capsys.readouterr().err
    assert figures["pools"] == 30
    assert figures["vectorised_us_per_analysis"] > 0
    assert figures["rma_loop_us_per_analysis"] > 0
    assert figures["large_pool"]["k"] == 2_000
    assert figures["large_pool"]["peak_rss_mb"] > 0
    assert figures["large_pool"]["algorithm"] in ("fisher_scoring", "bracketed_reml_search")
    assert figures["cumulative"]["k"] == 20
    assert figures["evidence_meta_s"] > 0
    why = bench.r_missing()
    if why is None:
        assert figures["metafor_us_per_analysis"] > 0
        assert figures["metafor_failed_pools"] >= 0
        assert figures["rscript_one_shot_s"] > 0
    else:
        print(f"R part of the bench not exercised: {why}")
        assert figures["r_skipped"] == why
        assert f"metafor figures skipped: {why}" in err
