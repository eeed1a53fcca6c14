"""bench/scale/parser.py runs end to end on small sizes (its figures are not asserted: timing
goals belong to the bench, not to tests)."""

from __future__ import annotations

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
