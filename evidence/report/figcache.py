"""Figures drawn once per distinct input: a content-addressed cache of their SVG text.

Drawing a forest plot with matplotlib (and importing matplotlib at all) is most of a run's
time, yet a rerun on the same data draws the same bytes. The cache keys each SVG by a hash of
everything that decides its bytes: the figure's kind, its input data (every field of the pooled
results, labels and styles, floats to the last bit), the source of the modules that draw it and
the matplotlib version (which also pins the font it measures text with). A hit returns the
stored text; a miss draws and stores it. Output bytes never depend on whether the cache was
used. Entries live in `PROCESSED/.figures/` (local, untracked), written atomically; an entry
that is not an SVG is redrawn and replaced.

Several protocols and concurrent runs share the folder, so it is pruned by age alone: each use
of an entry renews its mtime, and a run that stores a new entry first drops those unused for
MAX_AGE_DAYS. An entry a run was about to read and finds gone is only a miss: drawn again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from evidence.io import atomic_write_bytes

FOLDER = ".figures"
FORMAT = 1  # bump when the key's layout changes
MAX_AGE_DAYS = 30.0  # an entry no run has used for this long is dropped
# an entry, or the temporary file of a write that never finished (`atomic_write_bytes`)
_ENTRY = re.compile(r"[0-9a-f]{64}\.svg|\.[0-9a-f]{64}\.svg\..+\.tmp")
# the modules whose code decides a figure's bytes (paths under evidence/)
_DRAWING_MODULES = ("report/plots.py", "report/markup.py", "report/figcache.py", "meta/results.py")


@cache
def code_version() -> str:
    """What the drawing code is: its modules' source and matplotlib's version."""
    h = hashlib.sha256(f"format {FORMAT}\n".encode())
    package = Path(__file__).resolve().parents[1]
    for name in _DRAWING_MODULES:
        h.update(name.encode() + b"\0" + (package / name).read_bytes() + b"\0")
    try:
        h.update(b"matplotlib " + metadata.version("matplotlib").encode())
    except metadata.PackageNotFoundError:
        h.update(b"matplotlib ?")
    return h.hexdigest()


def canonical(value: Any) -> Any:
    """`value` as plain JSON data that differs whenever the value does: dataclasses by class
    and field, floats by their exact bits (`float.hex`). Anything else is refused, so a key
    never rests on a repr that could hide a difference."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": float(value).hex()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "dc": type(value).__qualname__,
            "v": [[f.name, canonical(getattr(value, f.name))] for f in dataclasses.fields(value)],
        }
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {"d": [[canonical(k), canonical(v)] for k, v in value.items()]}
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return canonical(item())
    raise TypeError(f"figure cache: cannot key a {type(value).__name__}")


def figure_key(kind: str, *args: Any) -> str:
    """The hash that names a figure's entry: its kind, inputs and the drawing code."""
    text = json.dumps([code_version(), kind, canonical(list(args))], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _is_svg(text: str) -> bool:
    return text.startswith("<svg") and text.rstrip().endswith("</svg>")


def prune(folder: Path, max_age_days: float = MAX_AGE_DAYS, now: float | None = None) -> list[Path]:
    """Drop the entries of `folder` unused (by mtime) for `max_age_days`; anything else there is
    left alone. Returns what was removed; a file that cannot be removed is skipped."""
    cutoff = (time.time() if now is None else now) - max_age_days * 86400
    removed: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return removed
    for entry in entries:
        if not _ENTRY.fullmatch(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _touch(path: Path) -> None:
    """Mark an entry used now, so pruning keeps it (mtime: atime is often not kept)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves its entries
        pass


@dataclass
class FigureCache:
    """Draws through the cache in `folder`; with no folder every figure is drawn."""

    folder: Path | None
    hits: int = 0
    misses: int = 0
    max_age_days: float = MAX_AGE_DAYS
    pruned: list[Path] | None = None  # what this cache dropped before its first store

    def svg(self, kind: str, draw: Callable[..., str], *args: Any) -> str:
        """`draw(*args)`, or the text it gave before for the same inputs and code."""
        if self.folder is None:
            return draw(*args)
        key = figure_key(kind, *args)
        path = self.folder / f"{key}.svg"
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        if _is_svg(text):
            self.hits += 1
            _touch(path)
            return text
        self.misses += 1
        text = draw(*args)
        if self.pruned is None:
            self.pruned = prune(self.folder, self.max_age_days)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, text.encode("utf-8"))
        except OSError:  # a cache that cannot be written only costs time
            pass
        return text
