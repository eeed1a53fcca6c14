"""Forest, funnel, cumulative and Baujat plots as SVG text, byte-identical for identical inputs.

Presentation only: every number drawn comes from the pooled results passed in. The forest and
cumulative plots follow the layout guideline authors know from RevMan and metafor's `forest()`:
text columns (study, arm data, weight, effect and interval) beside the plot, the "favours" labels
under the axis, an axis range clipped to the studies' intervals with arrows on those running
beyond it, and ticks chosen from the data. Labels from data are drawn as one line of plain text
(no mathtext); matplotlib escapes them in the SVG. Every column is as wide as its widest text,
measured with the font the SVG names, so no label is cut.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from evidence.meta.results import RATIO_MEASURES, PooledResult, SequentialResult
from evidence.report.markup import dom_id, one_line

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: a cached figure needs none
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.figure import Figure

    from evidence.meta.diagnostics import BaujatPoints

FONT = "DejaVu Sans"
STYLE = {
    "svg.hashsalt": "evidence",
    "svg.fonttype": "none",
    "font.family": FONT,
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
TEXT_PT = 7.0  # table text
TITLE_PT = 8.0
ROW_IN = 0.19  # one table row, inches
GAP_IN = 0.16  # between text columns
PLOT_IN = 2.6  # the plot column
MARGIN_IN = 0.12
SLACK = 1.08  # browsers may lay out the same font a little wider than FreeType measures
PROPORTIONS = frozenset({"PLO", "PR", "PFT"})
MEASURE_NAMES = {
    "RR": "Risk ratio",
    "OR": "Odds ratio",
    "PETO": "Peto odds ratio",
    "IRR": "Incidence rate ratio",
    "ROM": "Ratio of means",
    "RD": "Risk difference",
    "MD": "Mean difference",
    "SMD": "Standardised mean difference",
    "PLO": "Proportion",
    "PR": "Proportion",
    "PFT": "Proportion",
}
TESTS = {"z": "z", "knha": "Knapp-Hartung", "adhoc": "Knapp-Hartung (ad hoc)", "t": "t"}
CRIT = 1.959963984540054


@cache
def _renderer() -> RendererAgg:
    """A 72 dpi renderer (one pixel is one point) for measuring text, made on first use."""
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(10, 10, 72)


@dataclass(frozen=True)
class StudyRow:
    """A study's row as the reader sees it: "Author Year" and its arm data as text."""

    label: str
    cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForestGroup:
    """One block of a forest plot: a dose tier's studies and its pooled result.

    `rows` match `pooled.studies` one to one; without them the studies' own names are shown.
    """

    label: str
    pooled: PooledResult
    rows: tuple[StudyRow, ...] = ()


@dataclass(frozen=True)
class ForestStyle:
    """What the reader needs around the numbers: arm column headers and the favours labels."""

    arm_headers: tuple[str, ...] = ()  # one per arm cell, e.g. ("Baclofen", "Placebo")
    arm_units: str = ""  # under the arm headers: "events/total" or "mean (SD) n"
    favours: tuple[str, str] | None = None  # (left of the null line, right of it)
    tier_test: tuple[float, int, float] | None = None  # Q between tiers, df, p


@dataclass(frozen=True)
class Scale:
    """How an analysis-scale value is drawn: exponentiated, as a percentage, or as it is."""

    measure: str

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def proportion(self) -> bool:
        return self.measure in PROPORTIONS

    @property
    def null(self) -> float | None:
        """The line of no effect; none for a proportion (logit 0 is 50%, not "no effect")."""
        if self.proportion:
            return None
        return 1.0 if self.ratio else 0.0

    def tx(self, x: float) -> float:
        if self.ratio:
            return _exp(x)
        if self.measure == "PLO":
            return 100.0 / (1.0 + _exp(-x))
        if self.measure == "PFT":  # double arcsine back to a proportion (metafor transf.iarcsin)
            return 100.0 * math.sin(min(max(x, 0.0), math.pi) / 2.0) ** 2
        if self.measure == "PR":
            return 100.0 * x
        return x

    def label(self) -> str:
        name = MEASURE_NAMES.get(self.measure, self.measure)
        if self.ratio:
            return f"{name} (log scale)"
        if self.proportion:
            return f"{name} (%)"
        return name

    def fmt(self, est: float, lo: float, hi: float) -> str:
        e, a, b = self.tx(est), self.tx(lo), self.tx(hi)
        if self.proportion:
            return f"{e:.1f} [{a:.1f}, {b:.1f}]"
        return f"{e:.2f} [{a:.2f}, {b:.2f}]"

    def header(self, level: float = 95.0) -> str:
        name = "%" if self.proportion else self.measure
        return f"{name} [{level:g}% CI]"


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id and reference so several figures can sit inline in one page.

    The prefix goes into markup unescaped, so it is made a plain id first (`dom_id`).
    """
    safe = dom_id(prefix)
    return re.sub(r'(\bid="|url\(#|href="#)', lambda m: m.group(1) + safe + "-", svg)


def _label(text: str) -> str:
    """A label from data as one line of plain text: no line breaks, control characters."""
    return one_line(text)


def text_width(text: str, size: float = TEXT_PT, bold: bool = False) -> float:
    """The drawn width of `text` in inches, in the figures' font, with room for a browser."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(family=FONT, size=size, weight="bold" if bold else "normal")
    w, _, _ = _renderer().get_text_width_height_descent(text, prop, ismath=False)
    return SLACK * w / 72.0


def _layout(fig: Figure, labels: Sequence[str], right: float = 0.97) -> None:
    """Fixed margins from the label widths: one draw, not the two a tight layout costs."""
    width, height = fig.get_size_inches()
    widest = max((text_width(t, 8.0) for t in labels), default=0.5)
    left = min(0.6, (widest + 0.45) / width)
    fig.subplots_adjust(left=left, right=right, bottom=0.5 / height, top=1 - 0.35 / height)


def _svg(fig: Figure) -> str:
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context(STYLE):  # the hash salt and text-as-text settings apply when saving
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog so the SVG can sit inline in HTML


# ---------------------------------------------------------------- axis: range and ticks


def _nice_steps(lo: float, hi: float) -> list[float]:
    """1-2-5 steps for a linear axis: the finest giving at most seven ticks."""
    span = max(hi - lo, 1e-9)
    for e in range(math.floor(math.log10(span)) - 2, math.floor(math.log10(span)) + 2):
        for m in (1.0, 2.0, 5.0):
            step = m * 10.0**e
            if span / step <= 6.0:
                return [step]
    return [span]


def axis_ticks(lo: float, hi: float, log: bool) -> tuple[float, float, list[float]]:
    """Axis limits snapped outwards to ticks of the 1-2-5 sequence, and the ticks between.

    `lo` and `hi` are on the drawn scale (a ratio exponentiated, a proportion in %).
    """
    if log:
        lo, hi = max(lo, 1e-6), min(max(hi, lo * 1.01), 1e6)
        seq = [m * 10.0**e for e in range(-6, 7) for m in (1.0, 2.0, 5.0)]
        low = max([t for t in seq if t <= lo * (1 + 1e-9)], default=seq[0])
        high = min([t for t in seq if t >= hi * (1 - 1e-9)], default=seq[-1])
        ticks = [t for t in seq if low <= t <= high]
        if len(ticks) > 7:  # a wide range: powers of ten and the null's neighbours only
            ticks = [t for t in ticks if round(math.log10(t), 9).is_integer() or 0.5 <= t <= 2]
        if len(ticks) > 9:
            ticks = [t for t in ticks if round(math.log10(t), 9).is_integer()]
        return low, high, ticks
    step = _nice_steps(lo, hi)[0]
    low = math.floor(lo / step + 1e-9) * step
    high = math.ceil(hi / step - 1e-9) * step
    if high <= low:
        high = low + step
    n = round((high - low) / step)
    return low, high, [round(low + i * step, 10) for i in range(n + 1)]


def axis_range(
    estimates: Sequence[float],
    intervals: Sequence[tuple[float, float]],
    pooled: Sequence[tuple[float, float]],
    null: float | None,
) -> tuple[float, float]:
    """The range the axis shows, on the analysis scale: every estimate, pooled interval and the
    null line, widened towards the studies' interval ends by at most half that core (or the
    narrowest study interval), so one very wide interval cannot squash the rest (it gets an
    arrow instead, as in RevMan and metafor)."""
    core = [*estimates, *(x for p in pooled for x in p), *([] if null is None else [null])]
    core = [x for x in core if math.isfinite(x)]
    ends = [x for iv in intervals for x in iv if math.isfinite(x)]
    if not core:
        core = ends or [0.0]
    c_lo, c_hi = min(core), max(core)
    widths = [(b - a) / 2 for a, b in intervals if math.isfinite(b - a)]
    pad = max(0.5 * (c_hi - c_lo), min(widths, default=0.0), 0.05)
    lo = max(min([*ends, c_lo]), c_lo - pad)
    hi = min(max([*ends, c_hi]), c_hi + pad)
    return lo, hi


# ---------------------------------------------------------------- the table-plot engine


@dataclass
class _Row:
    left: tuple[str, ...] = ()
    right: tuple[str, ...] = ()
    kind: str = "text"  # study | point | diamond | pi | header | text
    est: float | None = None
    lo: float | None = None
    hi: float | None = None
    size: float = 1.0
    bold: bool = False
    span: bool = False  # the first left cell runs across the arm columns (no arm cells)


@dataclass
class _Table:
    title: str
    left_headers: tuple[tuple[str, ...], ...]  # header lines, each one text per left column
    right_headers: tuple[str, ...]
    rows: list[_Row]
    scale: Scale
    favours: tuple[str, str] | None = None
    left_align: tuple[str, ...] = field(default_factory=tuple)  # per left column: left|center


def _col_widths(n: int, texts: list[tuple[int, str, bool]]) -> list[float]:
    widths = [0.0] * n
    for col, text, bold in texts:
        widths[col] = max(widths[col], text_width(text, TEXT_PT, bold))
    return widths


def _draw_table(t: _Table) -> Figure:
    """The forest layout: text columns left, the plot, text columns right, favours under it."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator
    from matplotlib.transforms import blended_transform_factory

    scale = t.scale
    n_left = max([len(h) for h in t.left_headers] + [len(r.left) for r in t.rows] + [1])
    n_right = max([len(t.right_headers)] + [len(r.right) for r in t.rows])
    texts_l: list[tuple[int, str, bool]] = []
    span_w = 0.0
    for h in t.left_headers:
        texts_l += [(i, s, True) for i, s in enumerate(h)]
    for r in t.rows:
        if r.span:
            span_w = max(span_w, text_width(r.left[0], TEXT_PT, r.bold))
        else:
            texts_l += [(i, s, r.bold) for i, s in enumerate(r.left)]
    wl = _col_widths(n_left, texts_l)
    # a spanning label may use the arm columns' room; only the rest widens the first column
    room = sum(wl) + GAP_IN * (n_left - 1)
    if span_w > room:
        wl[0] += span_w - room
    wr = _col_widths(
        n_right,
        [(i, s, True) for i, s in enumerate(t.right_headers)]
        + [(i, s, r.bold) for r in t.rows for i, s in enumerate(r.right)],
    )
    left_w = sum(wl) + GAP_IN * n_left
    right_w = sum(wr) + GAP_IN * n_right
    fav_w = 0.0
    if t.favours:
        fav_w = max(text_width(f, TEXT_PT) for f in t.favours)
    plot_w = max(PLOT_IN, 2 * fav_w + 0.3)
    width = MARGIN_IN + left_w + plot_w + right_w + MARGIN_IN
    title_w = text_width(t.title, TITLE_PT) + 2 * MARGIN_IN
    width = max(width, title_w)
    n_head = len(t.left_headers) or 1
    n = len(t.rows)
    top_in, bottom_in = 0.34, 0.42 + (0.2 if t.favours else 0.0)
    height = top_in + ROW_IN * (n + n_head) + bottom_in
    x_plot = MARGIN_IN + left_w
    with rc_context(STYLE):
        fig = Figure(figsize=(round(width, 2), round(height, 2)))
        ax = fig.add_axes(
            (x_plot / width, bottom_in / height, plot_w / width, ROW_IN * (n + n_head) / height)
        )
        ax.set_ylim(0.5, n + n_head + 0.5)
        ax.spines["left"].set_visible(False)
        ax.yaxis.set_major_locator(NullLocator())
        lo, hi, _ = _axis(ax, t.rows, scale)
        txt = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
        # header lines
        for j, line in enumerate(t.left_headers):
            y = n + n_head - j
            _cells(ax, txt, line, wl, y, True, t.left_align)
        for i, s in enumerate(t.right_headers):
            ax.text(
                _right_x(x_plot, plot_w, wr, i),
                n + 1,
                s,
                transform=txt,
                ha="right",
                va="center",
                fontsize=TEXT_PT,
                fontweight="bold",
                parse_math=False,
            )
        ax.plot([lo, hi], [n + 0.5, n + 0.5], color="#999999", lw=0.5, clip_on=False)
        study_ys = []
        for k, r in enumerate(t.rows):
            y = n - k
            if r.span:
                ax.text(
                    MARGIN_IN,
                    y,
                    r.left[0],
                    transform=txt,
                    ha="left",
                    va="center",
                    fontsize=TEXT_PT,
                    fontweight="bold" if r.bold else "normal",
                    parse_math=False,
                )
            else:
                gid = f"studyrow-{k}-l" if r.kind == "study" else ""
                _cells(ax, txt, r.left, wl, y, r.bold, t.left_align, gid)
            for i, s in enumerate(r.right):
                ax.text(
                    _right_x(x_plot, plot_w, wr, i),
                    y,
                    s,
                    transform=txt,
                    ha="right",
                    va="center",
                    fontsize=TEXT_PT,
                    fontweight="bold" if r.bold else "normal",
                    parse_math=False,
                    gid=f"studyrow-{k}-r{i}" if r.kind == "study" else None,
                )
            _mark(ax, r, y, scale, lo, hi)
            if r.kind in ("study", "point"):
                study_ys.append(y)
        if scale.null is not None and study_ys:
            ax.plot([scale.null] * 2, [0.5, max(study_ys) + 0.5], color="#888888", lw=0.7, ls="--")
        ax.set_xlabel(scale.label(), fontsize=TEXT_PT, labelpad=2)
        if t.favours and scale.null is not None:
            fav_y = 0.06 / height
            ax_frac = (
                math.log(scale.null / lo) / math.log(hi / lo)
                if scale.ratio
                else (scale.null - lo) / (hi - lo)
            )
            xn = x_plot + plot_w * min(max(ax_frac, 0.0), 1.0)
            fav = blended_transform_factory(fig.dpi_scale_trans, fig.transFigure)
            left_end = max(xn - 0.06, MARGIN_IN + text_width(t.favours[0]))
            right_start = min(xn + 0.06, width - MARGIN_IN - text_width(t.favours[1]))
            fig.text(
                left_end,
                fav_y,
                t.favours[0],
                transform=fav,
                ha="right",
                va="bottom",
                fontsize=TEXT_PT,
                parse_math=False,
            )
            fig.text(
                right_start,
                fav_y,
                t.favours[1],
                transform=fav,
                ha="left",
                va="bottom",
                fontsize=TEXT_PT,
                parse_math=False,
            )
        fig.text(
            MARGIN_IN / width,
            1 - 0.08 / height,
            t.title,
            ha="left",
            va="top",
            fontsize=TITLE_PT,
            parse_math=False,
        )
    return fig


def _right_x(x_plot: float, plot_w: float, wr: list[float], i: int) -> float:
    return x_plot + plot_w + sum(wr[: i + 1]) + GAP_IN * (i + 1)


def _cells(
    ax: Axes,
    txt: object,
    cells: Sequence[str],
    widths: list[float],
    y: float,
    bold: bool,
    align: Sequence[str],
    gid: str = "",
) -> None:
    """Left text columns; `gid` marks a study row's cells so a browser test can find them."""
    x = MARGIN_IN
    for i, s in enumerate(cells):
        ha = align[i] if i < len(align) else "left"
        pos = x + (widths[i] / 2 if ha == "center" else 0.0)
        ax.text(
            pos,
            y,
            s,
            transform=txt,
            ha=ha,
            va="center",
            fontsize=TEXT_PT,
            fontweight="bold" if bold else "normal",
            parse_math=False,
            gid=f"{gid}{i}" if gid else None,
        )
        x += widths[i] + GAP_IN


def _axis(ax: Axes, rows: Sequence[_Row], scale: Scale) -> tuple[float, float, list[float]]:
    """Scale, limits and ticks from the rows drawn; returns the drawn limits and ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    studies = [r for r in rows if r.kind in ("study", "point") and r.est is not None]
    pooled = [r for r in rows if r.kind in ("diamond", "pi") and r.lo is not None]
    lo, hi = axis_range(
        [r.est for r in studies if r.est is not None],
        [(r.lo, r.hi) for r in studies if r.lo is not None and r.hi is not None],
        [(r.lo, r.hi) for r in pooled if r.lo is not None and r.hi is not None],
        None if scale.null is None else (0.0 if scale.ratio else scale.null),
    )
    a, b = sorted((scale.tx(lo), scale.tx(hi)))
    if scale.proportion:
        a, b = max(a, 0.0), min(b, 100.0)
    low, high, ticks = axis_ticks(a, b, scale.ratio)
    if scale.proportion:
        low, high = max(low, 0.0), min(high, 100.0)
        ticks = [x for x in ticks if low <= x <= high]
    if scale.ratio:
        ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.tick_params(axis="x", labelsize=TEXT_PT, length=3, pad=1.5)
    return low, high, ticks


def _mark(ax: Axes, r: _Row, y: float, scale: Scale, lo: float, hi: float) -> None:
    """A study's square and interval (arrows where it runs off the axis), a diamond, a PI."""
    from matplotlib.patches import Polygon

    if r.est is None or r.lo is None or r.hi is None:
        return
    e, a, b = scale.tx(r.est), scale.tx(r.lo), scale.tx(r.hi)
    a, b = min(a, b), max(a, b)
    if r.kind in ("study", "point", "pi"):
        color = "#b5443a" if r.kind == "pi" else "#333333"
        ax.plot(
            [max(a, lo), min(b, hi)],
            [y, y],
            color=color,
            lw=0.8,
            ls=(0, (3, 1.5)) if r.kind == "pi" else "-",
        )
        if a < lo:
            ax.plot([lo], [y], marker="<", color=color, markersize=4, clip_on=False)
        if b > hi:
            ax.plot([hi], [y], marker=">", color=color, markersize=4, clip_on=False)
        if r.kind != "pi" and lo <= e <= hi:
            marker = "s" if r.kind == "study" else "o"
            size = 2.5 + 5.0 * math.sqrt(max(r.size, 0.0)) if r.kind == "study" else 4.0
            ax.plot(
                [e],
                [y],
                marker=marker,
                color="#333333" if r.kind == "study" else "#4a7ab5",
                markersize=size,
                lw=0,
            )
        return
    color = "#b5443a" if r.bold else "#4a7ab5"
    pts = [(max(a, lo), y), (e, y + 0.32), (min(b, hi), y), (e, y - 0.32)]
    ax.add_patch(Polygon(pts, closed=True, facecolor=color, edgecolor=color))


# ---------------------------------------------------------------- forest


def _fp(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "p not computable"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def heterogeneity_text(res: PooledResult) -> str:
    """RevMan's heterogeneity line: tau², I², Q with its df and p."""
    parts = []
    if res.tau2 is not None:
        parts.append(f"Tau² = {res.tau2:.3f}")
    if res.i2 is not None:
        parts.append(f"I² = {res.i2:.0f}%")
    if res.q is not None:
        parts.append(f"Q = {res.q:.2f}, df = {res.q_df} ({_fp(res.q_pval)})")
    return "Heterogeneity: " + "; ".join(parts) if parts else "Heterogeneity: not estimable"


def _method(res: PooledResult) -> str:
    model = "fixed effect" if res.method in ("FE", "EE", "MH") else "random effects"
    test = TESTS.get(res.test, res.test)
    return f"{model}, {res.method}, {test}"


def _study_rows(g: ForestGroup, scale: Scale, weights: dict[str, float], cols: int) -> list[_Row]:
    res = g.pooled
    rows = g.rows or tuple(StudyRow(s) for s in res.studies)
    wmax = max(res.weights, default=1.0) or 1.0
    out = []
    for s, row, yi, vi, w in zip(res.studies, rows, res.yi, res.vi, res.weights, strict=True):
        lo, hi = yi - CRIT * math.sqrt(vi), yi + CRIT * math.sqrt(vi)
        cells = tuple(row.cells) + ("–",) * (cols - len(row.cells))
        shown = weights.get(s)
        out.append(
            _Row(
                left=(_label(row.label), *(_label(c) for c in cells)),
                right=("–" if shown is None else f"{shown:.1f}%", scale.fmt(yi, lo, hi)),
                kind="study",
                est=yi,
                lo=lo,
                hi=hi,
                size=w / wmax,
            )
        )
    return out


def forest_rows(
    groups: Sequence[ForestGroup], overall: PooledResult, style: ForestStyle
) -> list[_Row]:
    """The forest plot's rows: tier headings, studies, tier subtotals with their heterogeneity
    (k ≥ 2 only), the total diamond (k ≥ 2), the prediction interval (random effects, k ≥ 3)."""
    scale = Scale(overall.measure)
    cols = len(style.arm_headers)
    # weight %: each study's share of the total pool, where a study is one row of it
    counts: dict[str, int] = {}
    for g in groups:
        for s in g.pooled.studies:
            counts[s] = counts.get(s, 0) + 1
    weights = {
        s: w for s, w in zip(overall.studies, overall.weights, strict=True) if counts.get(s) == 1
    }
    if len(groups) == 1:
        weights = dict(zip(overall.studies, overall.weights, strict=True))
    rows: list[_Row] = []
    tiered = len(groups) > 1 or groups[0].label not in ("", "all")
    for g in groups:
        res = g.pooled
        if tiered:
            rows.append(_Row(left=(_label(g.label),), kind="header", bold=True, span=True))
        rows.extend(_study_rows(g, scale, weights, cols))
        if len(groups) > 1 and res.k >= 2:
            shares = [weights.get(s) for s in res.studies]
            share = "" if None in shares else f"{sum(x for x in shares if x is not None):.1f}%"
            rows.append(
                _Row(
                    left=(f"Subtotal (k = {res.k})",),
                    right=(share, scale.fmt(res.estimate, res.ci_low, res.ci_high)),
                    kind="diamond",
                    est=res.estimate,
                    lo=res.ci_low,
                    hi=res.ci_high,
                    span=True,
                )
            )
            rows.append(_Row(left=(heterogeneity_text(res),), span=True))
    if overall.k >= 2:
        rows.append(
            _Row(
                left=(f"Total (k = {overall.k}; {_method(overall)})",),
                right=("100%", scale.fmt(overall.estimate, overall.ci_low, overall.ci_high)),
                kind="diamond",
                est=overall.estimate,
                lo=overall.ci_low,
                hi=overall.ci_high,
                bold=True,
                span=True,
            )
        )
        pi = overall.pi_low is not None and overall.pi_high is not None
        if pi and overall.k >= 3 and overall.method not in ("FE", "EE", "MH"):
            assert overall.pi_low is not None and overall.pi_high is not None
            rows.append(
                _Row(
                    left=("Prediction interval",),
                    right=("", scale.fmt(overall.estimate, overall.pi_low, overall.pi_high)),
                    kind="pi",
                    est=overall.estimate,
                    lo=overall.pi_low,
                    hi=overall.pi_high,
                    span=True,
                )
            )
        rows.append(_Row(left=(heterogeneity_text(overall),), span=True))
        rows.append(
            _Row(
                left=(f"Test for overall effect: {_stat(overall)} ({_fp(overall.pval)})",),
                span=True,
            )
        )
    else:
        rows.append(
            _Row(left=("One study: its own estimate is the result (nothing pooled)",), span=True)
        )
    if style.tier_test is not None:
        q, df, p = style.tier_test
        rows.append(
            _Row(
                left=(f"Test for subgroup differences: Q = {q:.2f}, df = {df} ({_fp(p)})",),
                span=True,
            )
        )
    return rows


def _stat(res: PooledResult) -> str:
    if res.df is not None:
        return f"t = {res.stat:.2f}, df = {res.df:g}"
    return f"z = {res.stat:.2f}"


def forest_figure(
    title: str,
    groups: Sequence[ForestGroup],
    overall: PooledResult,
    style: ForestStyle | None = None,
) -> Figure:
    style = style or ForestStyle()
    scale = Scale(overall.measure)
    headers: list[tuple[str, ...]] = [("Study", *style.arm_headers)]
    if style.arm_headers and style.arm_units:
        headers.append(("", *(style.arm_units for _ in style.arm_headers)))
    align = ("left", *("center" for _ in style.arm_headers))
    table = _Table(
        title=_label(title),
        left_headers=tuple(tuple(_label(c) for c in h) for h in headers),
        right_headers=("Weight", scale.header(overall.level if overall.level > 1 else 95.0)),
        rows=forest_rows(groups, overall, style),
        scale=scale,
        favours=tuple(_label(f) for f in style.favours) if style.favours else None,  # type: ignore[arg-type]
        left_align=align,
    )
    return _draw_table(table)


def forest_svg(
    title: str,
    groups: Sequence[ForestGroup],
    overall: PooledResult,
    style: ForestStyle | None = None,
) -> str:
    """Studies grouped by dose tier in RevMan's layout (see the module docstring)."""
    return _svg(forest_figure(title, groups, overall, style))


# ---------------------------------------------------------------- cumulative


def cumulative_figure(
    title: str,
    seq: SequentialResult,
    years: Sequence[int | None],
    labels: Sequence[str] = (),
    favours: tuple[str, str] | None = None,
) -> Figure:
    scale = Scale(seq.fits[0].measure)
    rows = []
    for i, (fit, name) in enumerate(zip(seq.fits, seq.labels, strict=True)):
        shown = labels[i] if i < len(labels) else name
        year = years[i] if i < len(years) and years[i] is not None else None
        if not labels:
            shown = f"{name} ({year if year is not None else 'n.d.'})"
        rows.append(
            _Row(
                left=(f"+ {_label(shown)}",),
                right=(str(fit.k), scale.fmt(fit.estimate, fit.ci_low, fit.ci_high)),
                kind="point",
                est=fit.estimate,
                lo=fit.ci_low,
                hi=fit.ci_high,
            )
        )
    table = _Table(
        title=_label(title),
        left_headers=(("Study added (by year)",),),
        right_headers=("k", scale.header()),
        rows=rows,
        scale=scale,
        favours=tuple(_label(f) for f in favours) if favours else None,  # type: ignore[arg-type]
    )
    return _draw_table(table)


def cumulative_svg(
    title: str,
    seq: SequentialResult,
    years: Sequence[int | None],
    labels: Sequence[str] = (),
    favours: tuple[str, str] | None = None,
) -> str:
    """The pooled estimate and CI as studies accrue, in year order, in the forest's style."""
    return _svg(cumulative_figure(title, seq, years, labels, favours))


# ---------------------------------------------------------------- funnel and Baujat


def funnel_figure(title: str, res: PooledResult) -> Figure:
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    scale = Scale(res.measure)
    with rc_context(STYLE):
        width = max(4.5, text_width(_label(title), TITLE_PT) + 0.2)
        fig = Figure(figsize=(round(width, 2), 3.5))
        ax = fig.subplots()
        se = [math.sqrt(v) for v in res.vi]
        top = max(se) * 1.05
        est = res.estimate
        tx: Callable[[float], float] = scale.tx
        ax.plot(
            [tx(est - CRIT * top), tx(est), tx(est + CRIT * top)],
            [top, 0, top],
            color="#888888",
            lw=0.8,
            ls="--",
        )
        ax.scatter([tx(y) for y in res.yi], se, s=12, color="#333333")
        ax.axvline(tx(est), color="#b5443a", lw=0.8)
        ax.set_ylim(top, 0)
        xs = [tx(y) for y in res.yi] + [tx(est - CRIT * top), tx(est + CRIT * top)]
        low, high, ticks = axis_ticks(min(xs), max(xs), scale.ratio)
        if scale.ratio:
            ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel(scale.label())
        ax.set_ylabel("Standard error")
        ax.set_title(_label(title), loc="left", parse_math=False, fontsize=TITLE_PT)
        _layout(fig, ["0.00"])
    return fig


def funnel_svg(title: str, res: PooledResult) -> str:
    """Effect against its standard error, with the pseudo-confidence region (k ≥ min_k)."""
    return _svg(funnel_figure(title, res))


def baujat_svg(title: str, points: BaujatPoints) -> str:
    """Each study's contribution to heterogeneity (x) against its influence (y), labelled."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

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
