"""The article's statements as claims with ids: one per table cell, one per text statement.

Table cells come from the claims file (`claims/*.yaml`), text statements from the citation map's
`claims:` lists (`citations/*.yaml`). Both are data: the text of a claim is the data's own text,
never rewritten here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evidence.inputs.documents import Citations, Claims

BRACKETS = re.compile(r"\[([0-9][0-9 ,]*)\]")
TABLE_NUMBER = re.compile(r"(?i)\btable\s+(\d+)")


@dataclass(frozen=True)
class Claim:
    claim_id: str
    source: str  # "table" | "text"
    text: str
    citations: tuple[int, ...]
    table: str = ""  # table cells: the claims file's table name
    row: str = ""  # table cells: the row's key cell
    column: str = ""  # table cells: the column of the cell
    listed_under: int = 0  # text statements: the citation number whose list holds it


def slug(text: str) -> str:
    """A plain id part ([a-z0-9-]) from a row name, so claim ids stay readable and safe."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "row"


def cited_numbers(text: str, default: int) -> tuple[int, ...]:
    """The citation numbers in the statement's brackets; the list's own number if none."""
    found = {int(n) for group in BRACKETS.findall(text) for n in re.findall(r"\d+", group)}
    return tuple(sorted(found)) if found else (default,)


def table_numbers(claims: Claims) -> dict[int, str]:
    """Table number (from each caption, e.g. 'Table 2: ...') → the claims file's table name."""
    out = {}
    for name, table in claims.tables.items():
        m = TABLE_NUMBER.search(table.caption)
        if m:
            out[int(m.group(1))] = name
    return out


def table_claims(claims: Claims | None) -> list[Claim]:
    """One claim per printed cell: every column but the row's key (the first) and `sources`."""
    if claims is None:
        return []
    out = []
    for name, table in claims.tables.items():
        key = table.columns[0]
        for row in table.rows:
            row_name = str(row.get(key, ""))
            sources = row.get("sources") or []
            numbers = tuple(sorted({int(n) for n in sources}))  # type: ignore[union-attr]
            for col in table.columns[1:]:
                if col == "sources" or row.get(col) in (None, ""):
                    continue
                out.append(
                    Claim(
                        claim_id=f"{slug(name)}-{slug(row_name)}-{slug(col)}",
                        source="table",
                        text=str(row[col]),
                        citations=numbers,
                        table=name,
                        row=row_name,
                        column=col,
                    )
                )
    return out


def text_claims(citations: Citations | None) -> list[Claim]:
    """One claim per statement of the citation map; a statement listed word for word under
    several numbers is one claim (under the first)."""
    if citations is None:
        return []
    out: list[Claim] = []
    seen: set[str] = set()
    for cit in sorted(citations.citations, key=lambda c: c.number):
        for n, text in enumerate(cit.claims, start=1):
            norm = " ".join(text.split()).lower()
            if norm in seen:
                continue
            seen.add(norm)
            out.append(
                Claim(
                    claim_id=f"cite{cit.number:02d}-{n:02d}",
                    source="text",
                    text=text,
                    citations=cited_numbers(text, cit.number),
                    listed_under=cit.number,
                )
            )
    return out


def all_claims(claims: Claims | None, citations: Citations | None) -> list[Claim]:
    out = table_claims(claims) + text_claims(citations)
    ids = [c.claim_id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"claims: two statements share the id(s) {dup} (rows with the same name)")
    return out
