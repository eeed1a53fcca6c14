"""Identifiers are data, never paths: one pattern for ids, one proof that a path stays inside.

Every id that can end up in a file name (protocol, indication, outcome, comparison, topic) must
match `ID_PATTERN`; every path the program writes, deletes or reads on a protocol's say-so is
built with `inside(base, ...)`, which resolves symlinks and `..` and refuses anything that lands
outside `base`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
ID_RE = re.compile(ID_PATTERN)
ID_RULE = (
    "an id must be 1-80 characters of lower-case letters, digits, '_' or '-', "
    "starting with a letter or digit"
)
# A PMID as every entry point accepts it: ASCII digits only, no leading zero, no blanks, at most
# 10 digits. PubMed's PMIDs are 8 digits today; 10 is the width of any 32-bit Entrez UID, so the
# bound refuses nonsense without ever refusing a real PMID. The one PMID pattern of the project.
PMID_PATTERN = r"^[1-9][0-9]{0,9}$"
PMID_RE = re.compile(PMID_PATTERN)
PMID_RULE = "a PMID is 1-10 ASCII digits with no leading zero and no blanks"
_ASCII_DIGITS = re.compile(r"[0-9]+")


class UnsafePath(ValueError):
    """A path that would leave its base folder, or an id that is not a plain name."""


def is_id(value: object) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def check_id(value: object, what: str = "id") -> str:
    """`value` if it is a valid id; else UnsafePath naming `what` and the rule."""
    if not is_id(value):
        raise UnsafePath(f"{what}: {value!r} is not a valid id; {ID_RULE}")
    return str(value)


def is_pmid(value: object) -> bool:
    return isinstance(value, str) and PMID_RE.fullmatch(value) is not None


def check_pmid(value: object, what: str = "pmid") -> str:
    text = str(value).strip() if value is not None else ""
    if not PMID_RE.fullmatch(text):
        raise UnsafePath(f"{what}: {value!r} is not a PMID (digits only, no leading zero)")
    return text


def require_pmid(value: object, where: str) -> str:
    """`value` if it is exactly a PMID (nothing stripped); else UnsafePath naming `where`.

    For PMIDs read from files, rows and XML: a value that needs cleaning is refused, not fixed.
    """
    if not is_pmid(value):
        raise UnsafePath(f"{where}: {value!r} is not a PMID; {PMID_RULE}")
    return str(value)


def ascii_digits(text: object) -> bool:
    """Whether `text` is one or more ASCII digits: `str.isdigit` and `int` take any script's."""
    return isinstance(text, str) and _ASCII_DIGITS.fullmatch(text) is not None


def relative_name(value: str, what: str = "path") -> PurePosixPath:
    """A relative path made only of plain parts: no root, no drive, no `..`, no empty part."""
    if not isinstance(value, str) or not value or "\x00" in value or "\\" in value:
        raise UnsafePath(f"{what}: {value!r} must be a relative path inside its folder")
    p = PurePosixPath(value)
    if p.is_absolute() or any(part in ("", ".", "..") for part in value.split("/")):
        raise UnsafePath(f"{what}: {value!r} must be a relative path inside its folder")
    return p


def inside(base: Path | str, *parts: str | Path) -> Path:
    """`base/parts...`, proven (after resolving symlinks and `..`) to lie strictly inside `base`."""
    root = Path(base).resolve()
    target = root.joinpath(*[str(p) for p in parts]).resolve()
    if target == root or not target.is_relative_to(root):
        shown = "/".join(str(p) for p in parts)
        raise UnsafePath(f"{shown!r} would leave {base}: refused")
    return target


def is_inside(base: Path | str, path: Path | str) -> bool:
    root = Path(base).resolve()
    target = Path(path).resolve()
    return target != root and target.is_relative_to(root)


def entry_inside(base: Path | str, rel: str | Path) -> Path:
    """The directory entry `base/rel`, its folder proven inside `base` (or `base` itself).

    The last part is not followed: a link found there is what gets replaced or removed, never
    the file it points to.
    """
    name = relative_name(str(rel))
    root = Path(base).resolve()
    parent = root.joinpath(*name.parent.parts).resolve()
    if parent != root and not parent.is_relative_to(root):
        raise UnsafePath(f"{str(name)!r} would leave {base}: refused")
    return parent / name.name
