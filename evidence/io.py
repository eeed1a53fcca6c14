"""Writing files so that readers never see half a file and reruns give identical bytes.

CSV cells: a table a person opens in a spreadsheet must not run anything. A text cell that a
spreadsheet would read as a formula (starting with = + - @, tab or CR, or their full-width forms
＝ ＋ － ＠) is written with a leading `'` (the OWASP convention): `sheet_cell`. Numbers, and
text that is just a number such as `-0.5`, stay as they are. `sheet_uncell` undoes it exactly,
for tables the program reads back (extraction templates). Inputs under data/raw are evidence and
are written verbatim; only outputs are neutralised.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as a plain open() would, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


FORMULA_START = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
_NUMBER = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


def _formula_like(text: str) -> bool:
    """Starts, after any `'`, with a character a spreadsheet reads as a formula, and is no number.

    Looking past leading quotes makes `sheet_uncell` exact: `'=x` is written `''=x`.
    """
    bare = text.lstrip("'")
    return bare[:1] != "" and bare[0] in FORMULA_START and not _NUMBER.match(bare)


def sheet_cell(value: object) -> object:
    """A text cell a spreadsheet would run, prefixed with `'`; any other value unchanged."""
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def sheet_uncell(value: str) -> str:
    """The text `sheet_cell` was given: its `'` removed, and nothing else ever."""
    if value.startswith("'") and _formula_like(value[1:]):
        return value[1:]
    return value


def lf_cell(value: object) -> object:
    """A text cell's bare CRs as LFs: an LF-terminated CSV quotes a cell holding LF, but not
    one holding a bare CR, which readers and spreadsheets take for the end of the row."""
    if isinstance(value, str) and "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def csv_text(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    crlf: bool = False,
    neutralise: bool = False,
) -> str:
    """CSV text; `neutralise` for a table people open (see the module docstring), not inputs."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    if neutralise:
        header = [sheet_cell(h) for h in header]  # type: ignore[misc]
        rows = ([sheet_cell(v) for v in row] for row in rows)
    if not crlf:  # with CRLF line ends the writer quotes a cell holding CR itself
        header = [lf_cell(h) for h in header]  # type: ignore[misc]
        rows = ([lf_cell(v) for v in row] for row in rows)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def frame_to_csv_text(
    frame: pd.DataFrame, float_format: str = "%.6g", neutralise: bool = True
) -> str:
    """Deterministic CSV: fixed float format, no index, LF line ends, empty for missing.

    Written for people to open, so text cells that would run as formulas are neutralised
    (`sheet_cell`) unless `neutralise` is False; numeric columns are never touched.
    """
    cell = (lambda v: sheet_cell(lf_cell(v))) if neutralise else lf_cell
    frame = frame.rename(columns=lambda c: cell(c) if isinstance(c, str) else c)
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        frame = frame.copy()
        for c in text:
            frame[c] = frame[c].map(cell)
    return frame.to_csv(index=False, float_format=float_format, lineterminator="\n", na_rep="")


def write_frame(
    frame: pd.DataFrame, path: Path, float_format: str = "%.6g", neutralise: bool = True
) -> None:
    atomic_write_text(path, frame_to_csv_text(frame, float_format, neutralise))
