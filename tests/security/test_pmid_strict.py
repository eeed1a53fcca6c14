"""PMIDs are 1-10 ASCII digits with no leading zero, exactly, wherever they enter.

`str.isdigit()` and `int()` take superscripts, Arabic-Indic and full-width digits; such a PMID
once imported crashed every later command. Each entry point refuses it with an error naming
where it came from, and nothing is cached or written.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.cache import cached_pmids, read_record, write_record
from evidence.pubmed.client import EutilsError, _clean_pmids, _esearch_page
from evidence.pubmed.parse import PubmedParseError, parse_records
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.resolve import resolution_targets
from evidence.pubmed.snapshot import known_pmids, snapshot_records
from evidence.safepath import UnsafePath, ascii_digits, is_pmid, require_pmid
from tests.pubmed import rawfacts as raw

BAD = ["1²", "١٢٣", "１２３", "0123", "12345678901", " 123"]
runner = CliRunner()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _article_xml(pmid: str) -> bytes:
    """The first fixture article twice: once as it is, then with its PMID replaced."""
    article = raw.articles(raw.EFETCH[0])[0]
    good = raw.pmid_of(article)
    bad = article.replace(f">{good}</PMID>", f">{pmid}</PMID>", 1)
    return f"<PubmedArticleSet>{article}{bad}</PubmedArticleSet>".encode()


@pytest.mark.parametrize("bad", BAD)
def test_the_one_pattern_refuses(bad: str) -> None:
    assert not is_pmid(bad)
    with pytest.raises(UnsafePath, match=r"where: .* is not a PMID"):
        require_pmid(bad, "where")


@pytest.mark.parametrize("good", ["1", "12345678", "1234567890"])
def test_a_valid_pmid_passes(good: str, tmp_path: Path) -> None:
    assert is_pmid(good) and require_pmid(good, "x") == good
    assert read_record(tmp_path, good) is None
    assert _clean_pmids([good, int(good)]) == [good]


def test_other_numbers_are_ascii_digits_only() -> None:
    assert ascii_digits("2024") and ascii_digits("0")
    for text in ["²", "٢٠٢٤", "２０２４", "", " 1", "1_0", "-1"]:
        assert not ascii_digits(text)


@pytest.mark.parametrize("bad", BAD)
def test_xml_parser_names_the_element(bad: str) -> None:
    with pytest.raises(PubmedParseError, match=r"<PMID> .* refused"):
        parse_records(_article_xml(bad))


@pytest.mark.parametrize("bad", [b for b in BAD if b.strip() == b])
def test_medline_text_parser_refuses(bad: str) -> None:
    text = raw.text_of(raw.MEDLINE_TEXT[0])
    first = raw.record_pmids(raw.MEDLINE_TEXT[0])[0]
    with pytest.raises(PubmedParseError, match="MEDLINE field PMID"):
        parse_records(text.replace(f"PMID- {first}", f"PMID- {bad}", 1).encode())


@pytest.mark.parametrize("bad", BAD)
def test_import_pubmed_refuses_and_caches_nothing(
    bad: str, data_copy: Path, tmp_path: Path
) -> None:
    path = tmp_path / "saved.xml"
    path.write_bytes(_article_xml(bad))
    result = runner.invoke(app, ["import-pubmed", str(path), "--data", str(data_copy)])
    assert result.exit_code == 1
    assert str(path) in result.stderr and "refused" in result.stderr
    assert not list((data_copy / "pubmed").rglob("*.json"))  # not even the valid article


@pytest.mark.parametrize("bad", BAD)
def test_the_cache_writer_refuses(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PMID"):
        PubmedRecord(pmid=bad, title="t")
    record = PubmedRecord(pmid="123", title="t", source="file", retrieved="2026-01-01")
    object.__setattr__(record, "pmid", bad)  # past the record's own check: the writer checks too
    with pytest.raises(ValueError, match="not a PMID"):
        write_record(tmp_path, record)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("bad", BAD)
def test_esearch_ids_and_client_requests_refuse(bad: str) -> None:
    body = (
        "<eSearchResult><Count>1</Count><RetMax>1</RetMax><RetStart>0</RetStart>"
        f"<IdList><Id>{bad}</Id></IdList></eSearchResult>"
    ).encode()
    if bad.strip() == bad:  # the id is read as the element's text, stripped like every field
        with pytest.raises(EutilsError, match=r"<IdList><Id> .* refused"):
            _esearch_page(body)
    with pytest.raises(ValueError, match="not a PMID"):
        _clean_pmids([bad])


@pytest.mark.parametrize("bad", BAD)
def test_screen_refuses_and_records_nothing(bad: str, data_copy: Path) -> None:
    path = data_copy / "screening.csv"
    before = path.read_bytes()
    for record in (bad, f"pmid:{bad}"):
        result = runner.invoke(
            app,
            [
                "screen",
                record,
                "--decision",
                "include",
                "--reviewer",
                "A",
                "--data",
                str(data_copy),
            ],
        )
        assert result.exit_code != 0, result.output
        assert repr(bad) in result.output or "expected pmid:<PMID>" in result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize("bad", [*BAD, 7363938])
def test_resolve_refuses_a_citation_candidate(bad: str | int, data_copy: Path) -> None:
    citations = data_copy / "citations" / "baclofen.yaml"
    text = citations.read_text(encoding="utf-8")
    value = bad if isinstance(bad, int) else f"'{bad}'"
    citations.write_text(text.replace("pmid: '7363938'", f"pmid: {value}", 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"baclofen\.yaml: citation [0-9]+, candidate .* refused"):
        resolution_targets(data_copy, citations)
    result = runner.invoke(app, ["resolve", "--protocol", "baclofen", "--data", str(data_copy)])
    assert result.exit_code == 1 and "refused" in result.output


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("table", ["studies.csv", "pubmed_records.csv"])
def test_snapshot_refuses_a_study_pmid_and_seeds_nothing(
    bad: str, table: str, data_copy: Path
) -> None:
    path = data_copy / table
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    row = next(r for r in rows if is_pmid(r["pmid"]))
    row["pmid"] = bad
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ValueError, match=rf"{table}: line [0-9]+, field pmid: .* refused"):
        snapshot_records(data_copy)
    with pytest.raises(ValueError, match="refused"):
        known_pmids(data_copy)
    result = runner.invoke(app, ["seed-cache", "--data", str(data_copy)])
    assert result.exit_code == 1 and "refused" in result.output
    assert not list((data_copy / "pubmed").rglob("*.json"))


def test_valid_pmids_still_pass_every_entry(data_copy: Path) -> None:
    assert [r.pmid for r in parse_records(_article_xml("1234567890"))][1] == "1234567890"
    records, _ = snapshot_records(data_copy)
    assert records and all(is_pmid(r.pmid) for r in records)
    assert resolution_targets(data_copy, data_copy / "citations" / "baclofen.yaml")
    result = runner.invoke(app, ["seed-cache", "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert cached_pmids(data_copy / "pubmed") == sorted((r.pmid for r in records), key=int)
