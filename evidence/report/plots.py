"""Forest, funnel, cumulative and Baujat plots as SVG text, byte-identical for identical inputs.

Presentation only: every number drawn comes from the pooled results passed in. Labels from
data are drawn as one line of plain text (no mathtext); matplotlib escapes them in the SVG.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from evidence.meta.results import RATIO_MEASURES, PooledResult, SequentialResult
from evidence.report.markup import dom_id, one_line

if TYPE_CHECKING:
    from evidence.meta.diagnostics import BaujatPoints

STYLE = {
    "svg.hashsalt": "evidence",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class ForestGroup:
    """One block of a forest plot: a dose tier's studies and its pooled diamond."""

    label: str
    pooled: PooledResult


def scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id and reference so several figures can sit inline in one page.

    The prefix goes into markup unescaped, so it is made a plain id first (`dom_id`).
    """
    safe = dom_id(prefix)
    return re.sub(r'(\bid="|url\(#|href="#)', lambda m: m.group(1) + safe + "-", svg)


def _label(text: str) -> str:
    """A label from data as one line of plain text: no line breaks, control characters."""
    return one_line(text)


def _layout(fig: Figure, labels: Sequence[str], right: float = 0.97) -> None:
    """Fixed margins from the label lengths: one draw, not the two a tight layout costs."""
    width, height = fig.get_size_inches()
    left = min(0.55, (0.065 * max((len(t) for t in labels), default=8) + 0.2) / width)
    fig.subplots_adjust(left=left, right=right, bottom=0.5 / height, top=1 - 0.35 / height)


def _value(ax: Axes, y: float, est: float, lo: float, hi: float, ratio: bool) -> None:
    """The effect and CI as text in a column right of the plot."""
    text = f"{_tx(est, ratio):.2f} [{_tx(lo, ratio):.2f}, {_tx(hi, ratio):.2f}]"
    ax.annotate(text, xy=(1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=7)


def _plain_log_axis(ax: Axes) -> None:
    """Log scale with plain tick labels (0.5, 1, 2) instead of slow mathtext powers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _xlim(ax: Axes, lows: Sequence[float], highs: Sequence[float], ratio: bool) -> None:
    """Room for every interval drawn, and for the line of no effect."""
    lo, hi = min(*lows, 0.0), max(*highs, 0.0)
    pad = 0.05 * (hi - lo or 1.0)
    ax.set_xlim(_tx(lo - pad, ratio), _tx(hi + pad, ratio))


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog so the SVG can sit inline in HTML


def _scale(measure: str) -> tuple[bool, str]:
    ratio = measure in RATIO_MEASURES
    return ratio, f"{measure} (log scale)" if ratio else measure


def _tx(x: float, ratio: bool) -> float:
    return math.exp(x) if ratio else x


def _diamond(ax: Axes, y: float, res: PooledResult, ratio: bool, color: str) -> None:
    pts = [
        (_tx(res.ci_low, ratio), y),
        (_tx(res.estimate, ratio), y + 0.35),
        (_tx(res.ci_high, ratio), y),
        (_tx(res.estimate, ratio), y - 0.35),
    ]
    ax.add_patch(Polygon(pts, closed=True, facecolor=color, edgecolor=color))


def forest_svg(title: str, groups: Sequence[ForestGroup], overall: PooledResult) -> str:
    """Studies grouped by dose tier with tier diamonds, the overall diamond and its PI."""
    ratio, xlabel = _scale(overall.measure)
    crit = 1.959963984540054
    with rc_context(STYLE):
        rows = sum(g.pooled.k + 1 for g in groups) + 2
        fig = Figure(figsize=(7.0, 0.28 * rows + 1.0))
        ax = fig.subplots()
        y = rows
        labels: list[tuple[float, str]] = []
        for g in groups:
            res = g.pooled
            wmax = max(res.weights) if res.weights else 1.0
            for s, yi, vi, w in zip(res.studies, res.yi, res.vi, res.weights, strict=True):
                lo, hi = yi - crit * math.sqrt(vi), yi + crit * math.sqrt(vi)
                ax.plot([_tx(lo, ratio), _tx(hi, ratio)], [y, y], color="#333333", lw=0.8)
                ax.plot(
                    [_tx(yi, ratio)],
                    [y],
                    marker="s",
                    color="#333333",
                    markersize=3 + 5 * math.sqrt(w / wmax),
                )
                _value(ax, y, yi, lo, hi, ratio)
                labels.append((y, s))
                y -= 1
            _diamond(ax, y, res, ratio, "#4a7ab5")
            _value(ax, y, res.estimate, res.ci_low, res.ci_high, ratio)
            labels.append((y, f"{g.label}: k={res.k}"))
            y -= 1
        _diamond(ax, y, overall, ratio, "#b5443a")
        _value(ax, y, overall.estimate, overall.ci_low, overall.ci_high, ratio)
        if overall.pi_low is not None and overall.pi_high is not None and overall.k > 1:
            ax.plot(
                [_tx(overall.pi_low, ratio), _tx(overall.pi_high, ratio)],
                [y - 0.55] * 2,
                color="#b5443a",
                lw=1.2,
            )
            labels.append((y - 0.55, "prediction interval"))
        labels.append((y, f"Overall ({overall.method}, {overall.test}): k={overall.k}"))
        ax.axvline(1.0 if ratio else 0.0, color="#888888", lw=0.8, ls="--")
        if ratio:
            _plain_log_axis(ax)
        pools = [g.pooled for g in groups] + [overall]
        lows = [
            y - crit * math.sqrt(v)
            for g in groups
            for y, v in zip(g.pooled.yi, g.pooled.vi, strict=True)
        ] + [p.ci_low for p in pools]
        highs = [
            y + crit * math.sqrt(v)
            for g in groups
            for y, v in zip(g.pooled.yi, g.pooled.vi, strict=True)
        ] + [p.ci_high for p in pools]
        if overall.pi_low is not None and overall.pi_high is not None:
            lows.append(overall.pi_low)
            highs.append(overall.pi_high)
        _xlim(ax, lows, highs, ratio)
        ax.set_yticks([p for p, _ in labels], [_label(t) for _, t in labels], parse_math=False)
        ax.set_ylim(y - 1.2, rows + 0.8)
        ax.set_xlabel(xlabel)
        ax.set_title(_label(title), loc="left", parse_math=False)
        _layout(fig, [_label(t) for _, t in labels], right=0.78)
        return _svg(fig)


def funnel_svg(title: str, res: PooledResult) -> str:
    """Effect against its standard error, with the pseudo-confidence region (k ≥ 10)."""
    ratio, xlabel = _scale(res.measure)
    with rc_context(STYLE):
        fig = Figure(figsize=(4.5, 3.5))
        ax = fig.subplots()
        se = [math.sqrt(v) for v in res.vi]
        top = max(se) * 1.05
        est = res.estimate
        ax.plot(
            [_tx(est - 1.96 * top, ratio), _tx(est, ratio), _tx(est + 1.96 * top, ratio)],
            [top, 0, top],
            color="#888888",
            lw=0.8,
            ls="--",
        )
        ax.scatter([_tx(y, ratio) for y in res.yi], se, s=12, color="#333333")
        ax.axvline(_tx(est, ratio), color="#b5443a", lw=0.8)
        ax.set_ylim(top, 0)
        if ratio:
            _plain_log_axis(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("standard error")
        ax.set_title(_label(title), loc="left", parse_math=False)
        _layout(fig, ["standard error"])
        return _svg(fig)


def cumulative_svg(title: str, seq: SequentialResult, years: Sequence[int | None]) -> str:
    """The pooled estimate and CI as studies accrue, in year order."""
    ratio, xlabel = _scale(seq.fits[0].measure)
    with rc_context(STYLE):
        fig = Figure(figsize=(7.0, 0.28 * len(seq.fits) + 1.0))
        ax = fig.subplots()
        labels = []
        for i, (fit, label) in enumerate(zip(seq.fits, seq.labels, strict=True)):
            y = len(seq.fits) - i
            ax.plot(
                [_tx(fit.ci_low, ratio), _tx(fit.ci_high, ratio)], [y, y], color="#333333", lw=0.8
            )
            ax.plot([_tx(fit.estimate, ratio)], [y], marker="o", color="#4a7ab5", markersize=4)
            _value(ax, y, fit.estimate, fit.ci_low, fit.ci_high, ratio)
            year = years[i] if i < len(years) and years[i] is not None else "n.d."
            labels.append((y, f"+ {label} ({year})"))
        ax.axvline(1.0 if ratio else 0.0, color="#888888", lw=0.8, ls="--")
        if ratio:
            _plain_log_axis(ax)
        _xlim(ax, [f.ci_low for f in seq.fits], [f.ci_high for f in seq.fits], ratio)
        ax.set_yticks([p for p, _ in labels], [_label(t) for _, t in labels], parse_math=False)
        ax.set_ylim(0.3, len(seq.fits) + 0.7)
        ax.set_xlabel(xlabel)
        ax.set_title(_label(title), loc="left", parse_math=False)
        _layout(fig, [_label(t) for _, t in labels], right=0.78)
        return _svg(fig)


def baujat_svg(title: str, points: BaujatPoints) -> str:
    """Each study's contribution to heterogeneity (x) against its influence (y), labelled."""
    with rc_context(STYLE):
        fig = Figure(figsize=(4.5, 3.5))
        ax = fig.subplots()
        drawn = [
            (x, y, _label(s))
            for s, x, y in zip(points.studies, points.x, points.y, strict=True)
            if y is not None
        ]
        ax.scatter([x for x, _, _ in drawn], [y for _, y, _ in drawn], s=12, color="#333333")
        for x, y, label in drawn:
            ax.annotate(
                label,
                xy=(x, y),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=6,
                parse_math=False,
            )
        ax.set_xlabel(points.xlabel)
        ax.set_ylabel(points.ylabel)
        ax.set_title(_label(title), loc="left", parse_math=False)
        _layout(fig, [points.ylabel[:20]])
        return _svg(fig)
