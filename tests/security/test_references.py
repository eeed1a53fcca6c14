"""References as a reader expects: Vancouver text from the PubMed record, never an internal id,
one numbering the tables cite, and secondary copies marked from the host list (data)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evidence.inputs.source_hosts import load_source_hosts, mark_for
from evidence.pubmed.records import PubmedRecord
from evidence.report.references import (
    NO_TITLE,
    build_references,
    cited_numbers,
    split_citation,
    vancouver_authors,
)
from tests.conftest import RAW

HOSTS_CSV = (
    "host,kind,reason\n"
    "mirror.example,mirror,copy of PubMed pages\n"
    "ai.example,ai_generated,AI answers\n"
)


def _studies(**rows: dict[str, str]) -> pd.DataFrame:
    cols = [
        "study_id",
        "first_author",
        "year",
        "title",
        "journal",
        "pmid",
        "doi",
        "design",
        "indication",
        "source_urls",
    ]
    return pd.DataFrame([{c: r.get(c) for c in cols} | {"study_id": s} for s, r in rows.items()])


@pytest.fixture
def hosts(tmp_path: Path) -> dict:
    path = tmp_path / "source_hosts.csv"
    path.write_text(HOSTS_CSV, encoding="utf-8")
    return load_source_hosts(path)


def test_vancouver_lists_six_authors_then_et_al() -> None:
    names = [f"Author{i} A" for i in range(8)]
    assert vancouver_authors(names) == ", ".join(names[:6]) + ", et al"
    assert vancouver_authors(names[:2]) == "Author0 A, Author1 A"


def test_citation_split_finds_volume_issue_pages_only_where_printed() -> None:
    assert split_citation("Alcohol Clin Exp Res 2004;28(10):1517-23") == (
        "Alcohol Clin Exp Res",
        "2004",
        "28(10):1517-23",
    )
    assert split_citation("Alcohol & Alcoholism 37(5):504-508") == (
        "Alcohol & Alcoholism",
        "",
        "37(5):504-508",
    )
    assert split_citation("BMC Neurology") == ("BMC Neurology", "", "")


def test_record_gives_the_text_and_no_reference_begins_with_an_id(hosts: dict) -> None:
    studies = _studies(
        smith_2004={
            "first_author": "Smith J",
            "year": "2004",
            "pmid": "123",
            "source_urls": "http://mirror.example/123",
        },
        anon_x={"title": None, "journal": "Lancet 2007;370:1915-22"},
        bare_id={},
    )
    rec = PubmedRecord(
        pmid="123",
        title="A trial.",
        journal="Journal of X",
        journal_abbrev="J X",
        year=2004,
        authors=tuple(f"A{i} B" for i in range(7)),
        doi="10.1/x",
    )
    refs = {"smith_2004": "PMID:123", "anon_x": "anon_x", "bare_id": "bare_id"}
    out = build_references(studies, refs, {"123": rec}, hosts)
    texts = {r.study_id: r.text for r in out.entries}
    assert texts["smith_2004"] == "A0 B, A1 B, A2 B, A3 B, A4 B, A5 B, et al. A trial. J X. 2004."
    assert texts["anon_x"] == f"{NO_TITLE}. Lancet. 2007;370:1915-22."
    assert all(not t.startswith(s) for s, t in texts.items())
    assert out.counts()["beginning_with_id"] == 0 and out.counts()["without_title"] == 2
    smith = next(r for r in out.entries if r.study_id == "smith_2004")
    assert smith.doi == "10.1/x" and smith.pmid == "123" and smith.from_pubmed
    # The only source is a marked mirror: the reference says so.
    assert smith.only_secondary and smith.sources[0].mark is not None
    # The PMID token and the id both cite the same one number.
    assert out.cite("PMID:123") == out.cite("smith_2004") == (smith.number,)
    assert cited_numbers("PMID:123 PMID:999", out) == ((smith.number,), ["PMID:999"])


def test_a_primary_source_beside_a_mirror_is_not_only_secondary(hosts: dict) -> None:
    studies = _studies(
        s1={
            "first_author": "Lee K",
            "title": "T",
            "source_urls": "http://ai.example/a https://pubmed.ncbi.nlm.nih.gov/1/",
        }
    )
    (ref,) = build_references(studies, {"s1": "s1"}, {}, hosts).entries
    assert [s.mark.kind if s.mark else None for s in ref.sources] == ["ai_generated", None]
    assert not ref.only_secondary


def test_subdomains_inherit_a_mark_and_lookalikes_do_not(hosts: dict) -> None:
    assert mark_for("https://www.mirror.example/x", hosts) is not None
    assert mark_for("https://mirror.example.:8080/x", hosts) is not None
    assert mark_for("https://notmirror.example/x", hosts) is None
    assert mark_for("not a url", hosts) is None


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("bad host!,mirror,x", "host"),
        ("a.example,rumour,x", "kind"),
        ("a.example,mirror,", "reason"),
    ],
)
def test_a_bad_host_row_is_refused_naming_file_line_and_field(
    tmp_path: Path, row: str, field: str
) -> None:
    path = tmp_path / "source_hosts.csv"
    path.write_text("host,kind,reason\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"source_hosts.csv: line 2: field {field}"):
        load_source_hosts(path)


def test_bundled_host_list_loads_and_marks_the_bundled_mirrors() -> None:
    hosts = load_source_hosts(RAW / "source_hosts.csv")
    assert mark_for("http://47.251.13.51:8081/10656195", hosts).kind == "mirror"
    assert mark_for("https://pubmed.ncbi.nlm.nih.gov/15597084", hosts) is None
