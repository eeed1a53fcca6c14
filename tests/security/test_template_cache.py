"""The report's compiled-template cache (evidence.report.render): an entry gives the same code
as compiling afresh, a damaged entry is compiled again, and a cache that cannot be written only
costs the compiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.report import render

TEMPLATES = [("html", "report.html"), ("md", "report.md")]


@pytest.mark.parametrize(("kind", "name"), TEMPLATES)
def test_cached_template_is_the_compiled_one(
    kind: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    monkeypatch.setattr(render, "TEMPLATE_CACHE", folder)
    fresh = render._env(kind).get_template(name)
    entries = list(folder.iterdir())
    assert [e.name.startswith(f"{kind}-") for e in entries] == [True]
    cached = render._env(kind).get_template(name)
    assert cached.root_render_func.__code__ == fresh.root_render_func.__code__

    entries[0].write_bytes(b"not a compiled template")
    again = render._env(kind).get_template(name)
    assert again.root_render_func.__code__ == fresh.root_render_func.__code__
    assert entries[0].read_bytes() != b"not a compiled template"  # replaced


def test_html_and_markdown_entries_never_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "TEMPLATE_CACHE", tmp_path)
    keys = {render._TemplateCache(kind).get_cache_key("report.html") for kind in ("html", "md")}
    assert len(keys) == 2


def test_unwritable_cache_still_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setattr(render, "TEMPLATE_CACHE", blocker / "cache")
    for kind, name in TEMPLATES:
        assert render._env(kind).get_template(name).root_render_func is not None
    assert blocker.read_text() == "a file where the cache folder would be"
