"""Figures: deterministic SVG, one mark per study, funnel plots from k = 10."""

from __future__ import annotations

import numpy as np

from evidence.meta import cumulative, escalc, rma
from evidence.report.plots import (
    ForestGroup,
    cumulative_svg,
    forest_svg,
    funnel_svg,
    scope_ids,
)


def pooled(k: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    n = rng.integers(40, 200, size=(k, 2))
    events = rng.binomial(n, [0.3, 0.2])
    es = escalc(
        "RR",
        events_treat=events[:, 0],
        n_treat=n[:, 0],
        events_ctrl=events[:, 1],
        n_ctrl=n[:, 1],
        studies=[f"study {i}" for i in range(k)],
    )
    return es, rma(es, method="REML", test="knha")


def test_funnel_plot_has_one_point_per_study_and_is_deterministic() -> None:
    _, res = pooled(12)
    svg = funnel_svg("Test funnel", res)
    assert svg.startswith("<svg") and svg == funnel_svg("Test funnel", res)
    assert svg.count('id="PathCollection_1"') == 1
    assert svg.count("<use ") >= 12  # scatter markers
    assert "Date" not in svg


def test_forest_plot_shows_each_study_tier_and_the_prediction_interval() -> None:
    _, low = pooled(3, seed=1)
    _, high = pooled(4, seed=2)
    _, overall = pooled(7, seed=3)
    svg = forest_svg(
        "Title <&>", [ForestGroup("low dose", low), ForestGroup("high dose", high)], overall
    )
    for label in (
        "low dose",
        "high dose",
        "Subtotal (k = 3)",
        "Subtotal (k = 4)",
        "Prediction interval",
        "Total (k = 7; random effects, REML, Knapp-Hartung)",
    ):
        assert label in svg
    assert "Title &lt;&amp;&gt;" in svg  # text is escaped in the SVG
    assert f"{np.exp(overall.estimate):.2f} [" in svg


def test_cumulative_plot_and_scoped_ids() -> None:
    es, _ = pooled(5)
    seq = cumulative(es, method="REML")
    svg = scope_ids(cumulative_svg("Cumulative", seq, [2001, 2003, None, 2010, 2012]), "fig-a")
    assert "+ study 4 (2012)" in svg and "(n.d.)" in svg
    assert 'id="fig-a-figure_1"' in svg and 'id="figure_1"' not in svg


def test_baujat_plot_is_well_formed_and_escapes_labels() -> None:
    from evidence.meta import baujat
    from evidence.report.plots import baujat_svg
    from evidence.report.svgcheck import check_svg

    labels = ["<b>&", "plain", "a $x$ b", "d"]
    pts = baujat([0.1, 0.5, -0.2, 0.3], [0.02, 0.03, 0.04, 0.05], studies=labels)
    svg = baujat_svg("Baujat <&>", pts)
    check_svg(svg, "baujat")  # parses as XML and holds drawing only
    assert "&lt;b&gt;&amp;" in svg and "<b>" not in svg
    assert "a $x$ b" in svg  # drawn as text, not mathtext
    assert "Baujat &lt;&amp;&gt;" in svg and svg == baujat_svg("Baujat <&>", pts)
    assert pts.ylabel in svg
