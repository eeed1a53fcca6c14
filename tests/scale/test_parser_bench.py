"""bench/scale/parser.py runs end to end on small sizes (its figures are not asserted: timing
goals belong to the bench, not to tests)."""

from __future__ import annotations

from bench import pubmed_bench
from bench.scale import parser


def test_quick_parser_bench_gives_every_figure() -> None:
    rows = parser.run(quick=True)
    figures = dict(rows)
    assert len(figures) == len(rows), "a figure is named twice"
    per_mb = [f for f in figures if f.startswith("parser, one ")]
    assert len(per_mb) == 4 and all(figures[f].endswith(" MB)") for f in per_mb)
    assert all("s/MB" in figures[f] for f in per_mb)
    assert any(f.startswith("old scanner, one ") for f in figures)
    assert figures["Entrez.read time / parser time"].endswith("x")
    assert "parser peak RSS, 150 vs 50 records" in figures


def test_pubmed_bench_parses_through_the_same_harness() -> None:
    """bench/pubmed_bench.py times its parses with the harness the scale bench uses."""
    figures = pubmed_bench.bench_parse(20, 1)
    assert figures["records"] == 20
    assert figures["ours_cpu_s"] > 0 and figures["entrez_read_cpu_s"] > 0
    assert figures["ours_tracemalloc_peak_mb"] > 0 and figures["ours_maxrss_mb"] > 0
    assert pubmed_bench.measure is parser.measure  # one harness, not two copies
