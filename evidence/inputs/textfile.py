"""Reading input files one way for `validate` and `run`: strict UTF-8, strict numbers.

Every input file (tables, protocol, rule set, claims, citations) is read here, so what
`evidence validate` accepts is exactly what a run reads:

- text is UTF-8 (a leading byte-order mark is tolerated and dropped); a byte that is not UTF-8
  is reported as `file:line:column`, as is a NUL character, which no input legitimately holds;
- a file above `MAX_INPUT_BYTES` is refused before it is decoded;
- a number is plain ASCII decimal (`12`, `-0.5`, `1e-3`): no `_`, no thousands separators, no
  digits of other scripts (`١٢`), no `inf`/`nan`, and within `MAX_MAGNITUDE`. Python's
  `float()` accepts all of those; the tables' numbers are parsed only by `parse_number`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

# The largest input file read: the bundled ones are below 1 MB; a file this size is a mistake.
MAX_INPUT_BYTES = 32 * 1024 * 1024
# The longest CSV cell: the csv module's own default, said in a message instead of a traceback.
MAX_CELL_CHARS = 131072
# No count, mean, SD, dose or effect this pipeline pools comes near this; a value beyond it is a
# data-entry error, and would overflow the pooling (variances are squares of SDs).
MAX_MAGNITUDE = 1e12

BOM = "\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+(?:\.0*)?", re.ASCII)


class InputFileError(ValueError):
    """An input file that cannot be read as text or parsed, with file, line and column."""

    def __init__(self, label: str, problem: str, line: int = 0, column: int = 0):
        self.label, self.problem, self.line, self.column = label, problem, line, column
        where = "".join(f":{n}" for n in (line, column) if n)
        super().__init__(f"{label}{where}: {problem}")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters of the decodable prefix) of byte `offset`."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def decode_text(data: bytes, label: str) -> str:
    """`data` as UTF-8 text without a leading BOM; a bad byte or a NUL names its place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise InputFileError(
            label,
            f"byte 0x{data[exc.start]:02x} is not UTF-8 (save the file as UTF-8)",
            line,
            column,
        ) from None
    text = text.removeprefix(BOM)
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise InputFileError(label, "a NUL character (not a text file?)", line, column)
    return text


def read_text(path: Path, label: str | None = None) -> str:
    """The text of an input file, read as `decode_text` says, within `MAX_INPUT_BYTES`."""
    path = Path(path)
    label = label or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputFileError(
                label, f"{size} bytes, more than the {MAX_INPUT_BYTES} an input file may hold"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(label, f"cannot be read: {exc.strerror or exc}") from None
    return decode_text(data, label)


def read_csv_rows(
    path: Path, label: str | None = None
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and rows as text, each row with the line number it starts on (header = line 1).

    A row whose width differs from the header's carries `__width__`; an unreadable file or a
    cell longer than `MAX_CELL_CHARS` raises `InputFileError` naming the line.
    """
    label = label or str(path)
    text = read_text(path, label)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        try:
            header = next(reader)
        except StopIteration:
            return [], []
        line = reader.line_num + 1
        for values in reader:
            record = dict(zip(header, values, strict=False))
            if len(values) != len(header):
                record["__width__"] = str(len(values))
            rows.append((line, record))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputFileError(label, f"not readable as CSV: {exc}", reader.line_num) from None
    return header, rows


def parse_number(text: str, integer: bool = False) -> float | int:
    """The value of a number written in plain ASCII decimal; ValueError for anything else.

    `integer`: digits only (a trailing `.0` allowed), returned as an int. Beyond
    `MAX_MAGNITUDE`, not finite, `_`, separators or non-ASCII digits: refused.
    """
    s = text.strip()
    rx = _INTEGER if integer else _DECIMAL
    if not rx.fullmatch(s):
        what = "whole number" if integer else "number"
        raise ValueError(f"not a {what} in plain ASCII digits (no _, separators or spaces)")
    x = float(s)
    if not math.isfinite(x) or abs(x) > MAX_MAGNITUDE:
        raise ValueError(f"beyond ±{MAX_MAGNITUDE:g} (a data-entry error?)")
    return int(x) if integer else x
