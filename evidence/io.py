"""Writing files so that readers never see half a file and reruns give identical bytes."""

from __future__ import annotations

import csv
import io
import os
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


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]], crlf: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def frame_to_csv_text(frame: pd.DataFrame, float_format: str = "%.6g") -> str:
    """Deterministic CSV: fixed float format, no index, LF line ends, empty for missing."""
    return frame.to_csv(index=False, float_format=float_format, lineterminator="\n", na_rep="")


def write_frame(frame: pd.DataFrame, path: Path, float_format: str = "%.6g") -> None:
    atomic_write_text(path, frame_to_csv_text(frame, float_format))


def read_csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and rows as text, each row with the line number it starts on (header = line 1)."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return [], []
        rows: list[tuple[int, dict[str, str]]] = []
        line = reader.line_num + 1
        for values in reader:
            record = dict(zip(header, values, strict=False))
            if len(values) != len(header):
                record["__width__"] = str(len(values))
            rows.append((line, record))
            line = reader.line_num + 1
    return header, rows
