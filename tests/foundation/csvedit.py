"""Small helpers to break a copy of an input table in one precise place."""

from __future__ import annotations

import csv
from pathlib import Path


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)


def line_of(path: Path, index: int) -> int:
    """The line number on which data row `index` (0-based) starts."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        line = reader.line_num + 1
        for i, _ in enumerate(reader):
            if i == index:
                return line
            line = reader.line_num + 1
    raise IndexError(index)


def set_cell(path: Path, where: dict[str, str], field: str, value: str) -> int:
    """Set `field` on the first row matching `where`; return that row's line number."""
    header, rows = read(path)
    col = header.index(field)
    for i, row in enumerate(rows):
        if all(row[header.index(k)] == v for k, v in where.items()):
            row[col] = value
            write(path, header, rows)
            return line_of(path, i)
    raise LookupError(where)


def find_row(path: Path, pred) -> tuple[int, dict[str, str]]:
    header, rows = read(path)
    for i, row in enumerate(rows):
        rec = dict(zip(header, row, strict=True))
        if pred(rec):
            return i, rec
    raise LookupError("no row matches")
