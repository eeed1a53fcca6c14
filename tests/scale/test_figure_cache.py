"""Figures are drawn once per distinct input: the same input gives the cached SVG, byte for
byte; any change to the input (to the last bit of a float, a label, a style) draws again."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from evidence.meta import cumulative
from evidence.report import build
from evidence.report.figcache import MAX_AGE_DAYS, FigureCache, canonical, figure_key, prune
from evidence.report.plots import ForestGroup, ForestStyle, forest_svg
from tests.conftest import synthesize
from tests.report.test_plots import pooled


class Counting:
    """A drawing function that counts its calls."""

    def __init__(self, draw):
        self.draw, self.calls = draw, 0

    def __call__(self, *args):
        self.calls += 1
        return self.draw(*args)


def test_same_input_reuses_the_cached_svg_byte_for_byte(tmp_path: Path) -> None:
    _, res = pooled(5)
    draw = Counting(forest_svg)
    args = ("Title", [ForestGroup("all", res)], res, ForestStyle(("A", "B"), "events/total"))
    first = FigureCache(tmp_path).svg("forest", draw, *args)
    cache = FigureCache(tmp_path)  # a later run: a new cache object, the same folder
    second = cache.svg("forest", draw, *args)
    assert draw.calls == 1 and (cache.hits, cache.misses) == (1, 0)
    assert second == first == forest_svg(*args)  # what drawing it would give
    assert len(list(tmp_path.glob("*.svg"))) == 1


def test_changed_input_is_drawn_again(tmp_path: Path) -> None:
    _, res = pooled(5)
    draw = Counting(forest_svg)
    cache = FigureCache(tmp_path)
    base = cache.svg("forest", draw, "T", [ForestGroup("all", res)], res)
    yi = (math.nextafter(res.yi[0], math.inf), *res.yi[1:])  # one bit of one study's effect
    nudged = dataclasses.replace(res, yi=yi)
    cache.svg("forest", draw, "T", [ForestGroup("all", nudged)], nudged)
    moved = dataclasses.replace(res, yi=(res.yi[0] + 1.0, *res.yi[1:]))
    changed = cache.svg("forest", draw, "T", [ForestGroup("all", moved)], moved)
    retitled = cache.svg("forest", draw, "T2", [ForestGroup("all", res)], res)
    assert draw.calls == 4 and cache.hits == 0
    assert changed != base and retitled != base
    assert changed == forest_svg("T", [ForestGroup("all", moved)], moved)
    assert len(list(tmp_path.glob("*.svg"))) == 4


def test_a_new_drawing_code_version_draws_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.report import figcache

    key = figure_key("forest", "T", 1.5)
    monkeypatch.setattr(figcache, "code_version", lambda: "another matplotlib or plots.py")
    assert figure_key("forest", "T", 1.5) != key


def test_kind_and_every_field_enter_the_key() -> None:
    es, res = pooled(4)
    seq = cumulative(es, method="REML")
    key = figure_key("cumulative", "T", seq, [2001, 2002, None, 2004], ["a", "b", "c", "d"])
    assert key == figure_key("cumulative", "T", seq, [2001, 2002, None, 2004], ["a", "b", "c", "d"])
    assert key != figure_key("forest", "T", seq, [2001, 2002, None, 2004], ["a", "b", "c", "d"])
    assert key != figure_key("cumulative", "T", seq, [2001, 2002, None, 2005], ["a", "b", "c", "d"])
    assert figure_key("x", 1) != figure_key("x", 1.0) != figure_key("x", "1")
    assert figure_key("x", np.float64(0.1)) == figure_key("x", 0.1)
    assert figure_key("x", res) != figure_key("x", dataclasses.replace(res, notes=("n",)))
    with pytest.raises(TypeError, match="cannot key"):
        canonical(np.array([1.0, 2.0]))


def test_an_entry_that_is_not_an_svg_is_drawn_again(tmp_path: Path) -> None:
    _, res = pooled(3)
    draw = Counting(forest_svg)
    svg = FigureCache(tmp_path).svg("forest", draw, "T", [ForestGroup("all", res)], res)
    (entry,) = tmp_path.glob("*.svg")
    entry.write_bytes(svg.encode()[: len(svg) // 2])  # a torn or damaged entry
    again = FigureCache(tmp_path).svg("forest", draw, "T", [ForestGroup("all", res)], res)
    assert again == svg and draw.calls == 2 and entry.read_text() == svg


def test_a_run_with_a_warm_cache_draws_nothing_and_writes_the_same_figures(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-27")
    processed = tmp_path / "processed"
    cold = synthesize(data_copy, processed, tmp_path / "r1")
    assert cold.exit_code == 0, cold.output
    entries = sorted(p.name for p in (processed / ".figures").glob("*.svg"))

    def refuse(*_args: object) -> str:
        raise AssertionError("a cached figure was drawn again")

    for name in ("forest_svg", "cumulative_svg", "funnel_svg"):
        monkeypatch.setattr(build, name, refuse)
    warm = synthesize(data_copy, processed, tmp_path / "r2")
    assert warm.exit_code == 0, warm.output
    assert sorted(p.name for p in (processed / ".figures").glob("*.svg")) == entries
    figs1 = sorted((tmp_path / "r1" / "baclofen" / "figures").glob("*.svg"))
    assert len(figs1) > 5
    for fig in figs1:
        assert (tmp_path / "r2" / "baclofen" / "figures" / fig.name).read_bytes() == (
            fig.read_bytes()
        )


def _age(path: Path, days: float) -> None:
    """Make `path` look last used `days` ago."""
    when = path.stat().st_mtime - days * 86400
    os.utime(path, (when, when))


def test_a_hit_marks_the_entry_used(tmp_path: Path) -> None:
    _, res = pooled(3)
    args = ("T", [ForestGroup("all", res)], res)
    FigureCache(tmp_path).svg("forest", forest_svg, *args)
    (entry,) = tmp_path.glob("*.svg")
    _age(entry, 40)
    cache = FigureCache(tmp_path)
    cache.svg("forest", Counting(forest_svg), *args)
    assert cache.hits == 1 and time.time() - entry.stat().st_mtime < 86400


def test_storing_a_figure_drops_entries_unused_for_the_maximum_age_and_nothing_else(
    tmp_path: Path,
) -> None:
    _, res = pooled(3)
    draw = Counting(forest_svg)
    old, used, young = (("T", [ForestGroup(g, res)], res) for g in ("old", "used", "young"))
    for args in (old, used, young):
        FigureCache(tmp_path).svg("forest", draw, *args)
    path = {
        name: tmp_path / f"{figure_key('forest', *args)}.svg"
        for name, args in (("old", old), ("used", used), ("young", young))
    }
    _age(path["old"], MAX_AGE_DAYS + 1)
    _age(path["used"], MAX_AGE_DAYS + 1)
    _age(path["young"], MAX_AGE_DAYS - 1)
    torn = tmp_path / f".{'0' * 64}.svg.abc123.tmp"  # a write killed long ago
    torn.write_text("<svg")
    _age(torn, MAX_AGE_DAYS + 1)
    foreign = tmp_path / "notes.txt"  # not the cache's: never touched
    foreign.write_text("kept\n")
    _age(foreign, 365)

    cache = FigureCache(tmp_path)
    cache.svg("forest", draw, *used)  # a hit renews it before anything is stored
    assert cache.pruned is None  # hits alone never prune
    cache.svg("forest", draw, "New", [ForestGroup("all", res)], res)
    assert cache.pruned == sorted([path["old"], torn], key=lambda p: p.name)
    assert not path["old"].exists() and not torn.exists()
    assert path["used"].exists() and path["young"].exists() and foreign.exists()
    assert len(list(tmp_path.glob("*.svg"))) == 3
    # a dropped entry is only a miss: drawn again, the same bytes
    assert cache.svg("forest", draw, *old) == forest_svg(*old)


def test_pruning_a_missing_or_unreadable_folder_removes_nothing(tmp_path: Path) -> None:
    assert prune(tmp_path / "absent") == []
    assert prune(tmp_path, max_age_days=0, now=time.time() + 10) == []
