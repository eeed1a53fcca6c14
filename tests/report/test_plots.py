"""Figures: deterministic SVG, one mark per study, funnel plots from k = 10."""

from __future__ import annotations

import math

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


def _inside(fig) -> list[str]:
    """Texts of `fig` whose drawn box leaves the figure (empty: every label is whole)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if not t.get_text() or not t.get_visible():
            continue
        b = t.get_window_extent(renderer)
        if b.x0 < box.x0 - 0.5 or b.x1 > box.x1 + 0.5 or b.y0 < box.y0 - 0.5 or b.y1 > box.y1 + 0.5:
            out.append(t.get_text())
    return out


def _one(yi: float, vi: float, name: str):
    from evidence.meta import rma

    return rma(
        np.array([yi]), np.array([vi]), method="REML", test="z", measure="RR", studies=[name]
    )


def test_every_text_of_forest_and_cumulative_lies_inside_the_figure() -> None:
    from evidence.report.plots import ForestStyle, StudyRow, cumulative_figure, forest_figure

    _, res = pooled(4, seed=5)
    long = "A very long first author name with many words 2019 and still more words"
    rows = tuple(
        StudyRow(long if i == 0 else f"Author {i} 200{i}", ("12/40", "8/39")) for i in range(4)
    )
    style = ForestStyle(
        ("Baclofen", "Another antispastic drug"),
        "events/total",
        ("Favours another antispastic drug", "Favours baclofen"),
    )
    fig = forest_figure("A title " * 12, [ForestGroup("all", res, rows)], res, style)
    assert _inside(fig) == []
    es, _ = pooled(5)
    seq = cumulative(es, method="REML")
    cum = cumulative_figure("t", seq, [2001] * 5, [long] * 5, style.favours)
    assert _inside(cum) == []


def test_one_study_has_no_diamond_and_the_prediction_interval_needs_three() -> None:
    from evidence.report.plots import ForestStyle, forest_rows

    one = _one(0.3, 0.04, "s")
    kinds = [r.kind for r in forest_rows([ForestGroup("all", one)], one, ForestStyle())]
    assert "diamond" not in kinds and "pi" not in kinds and kinds.count("study") == 1
    _, two = pooled(2, seed=4)
    kinds = [r.kind for r in forest_rows([ForestGroup("all", two)], two, ForestStyle())]
    assert kinds.count("diamond") == 1 and "pi" not in kinds
    _, three = pooled(3, seed=4)
    kinds = [r.kind for r in forest_rows([ForestGroup("all", three)], three, ForestStyle())]
    assert "pi" in kinds
    fe = rma(
        escalc(
            "RR", events_treat=[9, 8, 7], n_treat=[40] * 3, events_ctrl=[5, 6, 4], n_ctrl=[40] * 3
        ),
        method="FE",
    )
    kinds = [r.kind for r in forest_rows([ForestGroup("all", fe)], fe, ForestStyle())]
    assert "pi" not in kinds  # no prediction interval from a fixed-effect model
    # a tier of one study gets no subtotal or heterogeneity line; a tier of two does
    text = [
        r.left[0]
        for r in forest_rows(
            [ForestGroup("Low dose", one), ForestGroup("High dose", two)], three, ForestStyle()
        )
    ]
    assert text.count("Subtotal (k = 2)") == 1 and "Subtotal (k = 1)" not in text
    assert sum(t.startswith("Heterogeneity") for t in text) == 2  # the tier of two, the total


def test_one_very_wide_interval_is_clipped_with_an_arrow_and_ticks_follow_1_2_5() -> None:
    from evidence.report.plots import axis_range, axis_ticks

    # k = 2: one study 0.00-219.79 must not squash the other (RR 1.5 [1.1, 2.0])
    lo, hi = axis_range(
        [math.log(1.5), math.log(2.0)],
        [(math.log(1.1), math.log(2.0)), (math.log(0.0182), math.log(219.79))],
        [(math.log(1.0), math.log(2.6))],
        0.0,
    )
    low, high, ticks = axis_ticks(math.exp(lo), math.exp(hi), log=True)
    assert high < 219.79 and low > 0.0182
    assert all(round(t / 10 ** math.floor(math.log10(t)), 6) in (1, 2, 5) for t in ticks)
    assert 1.0 in ticks and len(ticks) <= 9
    from evidence.report.plots import forest_figure

    res = rma(
        np.log([1.5, 2.0]),
        np.array([0.02, 6.0]),
        method="REML",
        test="z",
        measure="RR",
        studies=["a", "b"],
    )
    fig = forest_figure("t", [ForestGroup("all", res)], res)
    markers = [ln.get_marker() for ax in fig.axes for ln in ax.lines]
    assert "<" in markers and ">" in markers  # the wide interval runs off both ends
    assert fig.axes[0].get_xlim()[1] < 219.79


def test_proportions_are_percentages_with_no_line_of_no_effect() -> None:
    from evidence.report.plots import Scale

    plo = Scale("PLO")
    assert plo.null is None and plo.label() == "Proportion (%)"
    assert plo.fmt(math.log(0.35 / 0.65), -1.0, 0.0).startswith("35.0 [26.9, 50.0]")
    assert Scale("RR").null == 1.0 and Scale("MD").null == 0.0


def test_study_labels_are_author_year_or_title_words_never_ids() -> None:
    import pandas as pd

    from evidence.report.labels import favours, study_labels

    studies = pd.DataFrame(
        {
            "study_id": ["milla_cp", "smith_a", "smith_b", "no_author"],
            "first_author": ["Milla PJ", "Smith J", "Smith J", None],
            "year": [1977, 2001, 2001, None],
            "title": ["t", "x", "y", "Baclofen for hiccups in palliative care: a pilot trial"],
        }
    )
    labels = study_labels(studies)
    assert labels["milla_cp"] == "Milla 1977"
    assert (labels["smith_a"], labels["smith_b"]) == ("Smith 2001a", "Smith 2001b")
    # no author or year known: the study's title words, not its id
    assert labels["no_author"] == "Baclofen for hiccups in palliative care: …"
    assert not any(sid in label for sid in studies["study_id"] for label in labels.values())
    assert favours("baclofen", "placebo", "higher") == ("Favours placebo", "Favours baclofen")
    assert favours("baclofen", "placebo", "lower") == ("Favours baclofen", "Favours placebo")


def test_forest_svg_is_deterministic_and_passes_svgcheck() -> None:
    from evidence.report.svgcheck import check_svg

    _, res = pooled(6, seed=8)
    svg = forest_svg("t", [ForestGroup("all", res)], res)
    assert svg == forest_svg("t", [ForestGroup("all", res)], res)
    check_svg(svg, "forest")
    assert 'id="studyrow-0-l0"' in svg and 'id="studyrow-5-r1"' in svg
