"""The streaming parser against every NCBI fixture, checked with values read from the files."""

from __future__ import annotations

import gzip
import re
import tracemalloc
import urllib.request
from pathlib import Path

import pytest

from evidence.pubmed.parse import (
    PubmedErrorPayload,
    PubmedParseError,
    iter_records,
    parse_records,
)
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.vocab import MESH_ANIMALS, MESH_HUMANS
from tests.pubmed import rawfacts as raw

_TAG = re.compile(r"</?(i|b|u|sup|sub|math|mml:math)\b[^>]*>")


def _by_pmid(path: Path) -> dict[str, PubmedRecord]:
    return {r.pmid: r for r in parse_records(path)}


def _efetch_articles() -> list[tuple[Path, str]]:
    return [(p, a) for p in raw.EFETCH for a in raw.articles(p)]


@pytest.mark.parametrize("path", raw.RECORD_FILES, ids=lambda p: p.name)
def test_every_fixture_parses_to_the_records_it_holds(path: Path) -> None:
    records = parse_records(path)
    assert [r.pmid for r in records] == raw.record_pmids(path)
    assert all(r.title for r in records)


def test_baseline_slice_has_604_citations_and_its_delete_list() -> None:
    deleted: list[str] = []
    records = parse_records(raw.BASELINE, deleted=deleted)
    assert len(records) == 604
    assert len(raw.articles(raw.BASELINE)) == 604
    assert deleted == raw.deleted_pmids(raw.BASELINE)
    assert deleted and not set(deleted) & {r.pmid for r in records}


def test_titles_and_abstracts_are_text_with_markup_flattened() -> None:
    checked_markup = 0
    for path, article in _efetch_articles():
        record = _by_pmid(path)[raw.pmid_of(article)]
        assert record.title == raw.title(article)
        assert record.abstract == raw.abstract(article)
        assert not _TAG.search(record.title) and not _TAG.search(record.abstract)
        if raw.has_markup(article.split("<ReferenceList>")[0]):
            checked_markup += 1
    assert checked_markup >= 3  # pubmed4/5/6/7 carry <i>, <sup>, <sub>, MathML


def test_structured_abstracts_keep_labels() -> None:
    labelled = 0
    for path, article in _efetch_articles():
        labels = re.findall(r'<AbstractText Label="([^"]+)"', article.split("<ReferenceList>")[0])
        if not labels:
            continue
        labelled += 1
        lines = _by_pmid(path)[raw.pmid_of(article)].abstract.split("\n")
        assert [line.split(": ", 1)[0] for line in lines] == labels
    assert labelled >= 3


def test_doi_entrez_date_types_and_check_tags_match_the_files() -> None:
    for path in [*raw.EFETCH, raw.BASELINE]:
        records = _by_pmid(path)
        for article in raw.articles(path):
            record = records[raw.pmid_of(article)]
            assert record.doi == raw.doi(article)
            assert record.entrez_date == raw.entrez_date(article)
            expected_types = raw.publication_types(article)
            assert [(p.ui, p.name) for p in record.publication_types] == expected_types
            uis = raw.mesh_uis(article)
            if uis is None:
                assert record.humans is None and record.animals is None
            else:
                assert [m.ui for m in record.mesh_headings] == uis
                assert record.humans is (MESH_HUMANS in uis)
                assert record.animals is (MESH_ANIMALS in uis)


def test_doi_falls_back_to_elocation_id(tmp_path: Path) -> None:
    path = raw.EFETCH[0].parent / "biopython-pubmed6.xml"
    text = raw.text_of(path)
    eloc = re.search(r'<ELocationID EIdType="doi" ValidYN="Y">([^<]+)</ELocationID>', text)
    assert eloc, "fixture lost its ELocationID"
    own, sep, references = text.partition("<ReferenceList>")
    stripped = re.sub(r'<ArticleId IdType="doi">[^<]+</ArticleId>', "", own) + sep + references
    target = tmp_path / "no-articleid-doi.xml"
    target.write_text(stripped, encoding="utf-8")
    (record,) = parse_records(target)
    assert record.doi == eloc.group(1)


def test_erratum_links_are_kept_as_notices() -> None:
    kinds = {"ErratumIn", "ErratumFor", "RetractionIn", "RetractionOf"}
    records = _by_pmid(raw.BASELINE)
    found = 0
    for article in raw.articles(raw.BASELINE):
        expected = raw.notices(article, kinds)
        record = records[raw.pmid_of(article)]
        assert [(n.ref_type, n.pmid) for n in record.notices] == expected
        found += len(expected)
        if any(kind == "ErratumIn" for kind, _ in expected):
            assert record.has_erratum
    assert found >= 2


def test_retraction_from_publication_type_or_comments(tmp_path: Path) -> None:
    article = raw.articles(raw.EFETCH[0])[0]
    head = raw.text_of(raw.EFETCH[0]).split("<PubmedArticleSet>")[0]
    pmid = raw.pmid_of(article)
    by_type = article.replace(
        "</PublicationTypeList>",
        '<PublicationType UI="D016441">Retracted Publication</PublicationType>'
        "</PublicationTypeList>",
    )
    by_notice = article.replace(
        "</MedlineCitation>",
        '<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
        f'<RefSource>Soc Justice</RefSource><PMID Version="1">{pmid}</PMID>'
        "</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>",
    )
    for i, variant in enumerate([article, by_type, by_notice]):
        path = tmp_path / f"v{i}.xml"
        path.write_text(f"{head}<PubmedArticleSet>{variant}</PubmedArticleSet>", encoding="utf-8")
        (record,) = parse_records(path)
        assert record.retracted is (i > 0)
    assert parse_records(tmp_path / "v2.xml")[0].notices[0].ref_type == "RetractionIn"


def test_unseen_dtd_versions_parse_without_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser tried to download something")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for path in raw.EFETCH:
        original = parse_records(path)
        text = raw.text_of(path)
        for dtd in ("pubmed_260101", "pubmed_270101"):
            changed = re.sub(r"pubmed_\d{6}\.dtd", f"{dtd}.dtd", text)
            changed = changed.replace("https://dtd.nlm.nih.gov", "http://dtd.nlm.nih.gov")
            assert f"{dtd}.dtd" in changed
            target = tmp_path / f"{dtd}-{path.stem}.xml"
            target.write_text(changed, encoding="utf-8")
            assert parse_records(target) == original


def test_gzip_is_detected_from_content(tmp_path: Path) -> None:
    source = raw.EFETCH[1]
    packed = tmp_path / "no-suffix.bin"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    assert parse_records(packed) == parse_records(source)
    assert parse_records(source.read_bytes()) == parse_records(source)


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_xml_is_an_error_naming_the_file(tmp_path: Path, cut: float) -> None:
    data = raw.EFETCH[2].read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(PubmedParseError, match=re.escape(str(path))):
        parse_records(path)


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    data = raw.BASELINE.read_bytes()
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(PubmedParseError, match=re.escape(str(path))):
        parse_records(path)


def test_html_page_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_text("<!DOCTYPE html>\n<html><body>Service unavailable</body></html>\n")
    with pytest.raises(PubmedParseError, match=rf"{re.escape(str(path))}: an HTML page"):
        parse_records(path)


def test_other_xml_and_ncbi_error_payloads_are_errors(tmp_path: Path) -> None:
    epost_error = raw.FIXTURES / "esearch" / "biopython-epost2.xml"
    with pytest.raises(PubmedParseError, match="ePostResult"):
        parse_records(epost_error)
    message = re.search(r"<ERROR>([^<]+)</ERROR>", raw.text_of(epost_error)).group(1)
    path = tmp_path / "efetch-error.xml"
    path.write_text(f"<eFetchResult><ERROR>{message}</ERROR></eFetchResult>")
    with pytest.raises(PubmedErrorPayload, match=re.escape(message)):
        parse_records(path)


def test_medline_text_fields() -> None:
    for path in raw.MEDLINE_TEXT:
        records = _by_pmid(path)
        for text in raw.medline_records(path):
            pmid = raw.medline_field(text, "PMID")[0]
            record = records[pmid]
            assert record.title == raw.medline_field(text, "TI")[0]
            edat = raw.medline_field(text, "EDAT")[0].split()[0].split("/")
            assert record.entrez_date == f"{edat[0]}-{int(edat[1]):02d}-{int(edat[2]):02d}"
            dois = [v[:-5].strip() for v in raw.medline_field(text, "AID") if v.endswith("[doi]")]
            dois += [v[:-5].strip() for v in raw.medline_field(text, "LID") if v.endswith("[doi]")]
            assert record.doi == (dois[0] if dois else "")
            assert list(record.publication_type_names) == raw.medline_field(text, "PT")
            assert list(record.authors) == raw.medline_field(text, "AU")
            mh = raw.medline_field(text, "MH")
            assert [m.descriptor for m in record.mesh_headings] == [
                t.split("/")[0].lstrip("*") for t in mh
            ]
            assert record.humans is (("Humans" in [t.split("/")[0] for t in mh]) if mh else None)


def test_book_articles(tmp_path: Path) -> None:
    """A PubmedBookArticle built from a real article's own values parses to those values."""
    article = raw.articles(raw.EFETCH[1])[0]
    pmid, title = raw.pmid_of(article), raw.title(article)
    authors = re.search(r"<AuthorList[^>]*>.*?</AuthorList>", article, re.S).group(0)
    year = re.search(r"<PubDate>\s*<Year>(\d+)</Year>", article).group(1)
    book = (
        f'<PubmedArticleSet><PubmedBookArticle><BookDocument><PMID Version="1">{pmid}</PMID>'
        '<ArticleIdList><ArticleId IdType="bookaccession">NBK0</ArticleId></ArticleIdList>'
        f"<Book><Publisher><PublisherName>P</PublisherName></Publisher><BookTitle>{title}"
        f"</BookTitle><PubDate><Year>{year}</Year></PubDate></Book>{authors}"
        '<PublicationType UI="D016454">Review</PublicationType></BookDocument>'
        "</PubmedBookArticle></PubmedArticleSet>"
    )
    path = tmp_path / "book.xml"
    path.write_text(book, encoding="utf-8")
    (record,) = parse_records(path)
    source = _by_pmid(raw.EFETCH[1])[pmid]
    assert (record.kind, record.pmid, record.title, record.year) == ("book", pmid, title, int(year))
    assert record.authors == source.authors
    assert record.publication_type_names == ("Review",)


def test_agrees_with_bio_entrez_read_where_it_can_run() -> None:
    from Bio import Entrez

    from evidence.pubmed.client import configure_entrez_cache

    configure_entrez_cache()
    for path in raw.EFETCH:
        if path.suffix == ".gz":
            with gzip.open(path) as handle:
                data = Entrez.read(handle, validate=False)
        else:
            with path.open("rb") as handle:
                data = Entrez.read(handle, validate=False)
        ours = _by_pmid(path)
        for item in data["PubmedArticle"]:
            citation = item["MedlineCitation"]
            record = ours[str(citation["PMID"])]
            types = citation["Article"]["PublicationTypeList"]
            assert [(str(t.attributes["UI"]), str(t)) for t in types] == [
                (p.ui, p.name) for p in record.publication_types
            ]
            ids = {str(a.attributes["IdType"]): str(a) for a in item["PubmedData"]["ArticleIdList"]}
            if "doi" in ids:
                assert record.doi == ids["doi"]
            assert record.pmc == ids.get("pmc", "")
            meshes = citation.get("MeshHeadingList", [])
            assert [str(m["DescriptorName"].attributes["UI"]) for m in meshes] == [
                m.ui for m in record.mesh_headings
            ]


def test_records_round_trip_through_dicts() -> None:
    for path in raw.RECORD_FILES:
        for record in iter_records(path):
            assert PubmedRecord.from_dict(record.to_dict()) == record


def _synthetic(tmp_path: Path, count: int) -> Path:
    citations = raw.articles(raw.BASELINE)
    head = raw.text_of(raw.BASELINE).split("<MedlineCitationSet>")[0]
    path = tmp_path / f"synthetic-{count}.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(head + "<MedlineCitationSet>\n")
        for i in range(count):
            cit = citations[i % len(citations)]
            out.write(
                re.sub(
                    r"<PMID Version=\"1\">\d+</PMID>",
                    f'<PMID Version="1">{90000000 + i}</PMID>',
                    cit,
                    count=1,
                )
            )
            out.write("\n")
        out.write("</MedlineCitationSet>\n")
    return path


def test_memory_stays_flat_as_files_grow(tmp_path: Path) -> None:
    peaks = {}
    for count in (300, 2400):
        path = _synthetic(tmp_path, count)
        tracemalloc.start()
        seen = sum(1 for _ in iter_records(path))
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seen == count
    assert peaks[2400] < 1.5 * peaks[300] + 1_000_000, peaks
    assert peaks[2400] < 20_000_000


def test_truncation_inside_a_dropped_reference_list_is_still_an_error(tmp_path: Path) -> None:
    path = raw.EFETCH[0].parent / "biopython-pubmed7.xml"
    text = raw.text_of(path)
    cut = text.index("<Reference>") + 200
    target = tmp_path / "cut-in-references.xml"
    target.write_text(text[:cut], encoding="utf-8")
    with pytest.raises(PubmedParseError, match=re.escape(str(target))):
        parse_records(target)


def test_namespaces_declared_on_the_root_reach_each_record(tmp_path: Path) -> None:
    path = raw.EFETCH[0].parent / "biopython-pubmed7.xml"
    text = raw.text_of(path)
    declaration = 'xmlns:mml="http://www.w3.org/1998/Math/MathML"'
    assert declaration in text
    moved = text.replace(" " + declaration, "").replace(
        "<PubmedArticleSet>", f"<PubmedArticleSet {declaration}>"
    )
    target = tmp_path / "root-namespace.xml"
    target.write_text(moved, encoding="utf-8")
    assert parse_records(target) == parse_records(path)


def test_other_declared_encodings_are_honoured(tmp_path: Path) -> None:
    source = raw.EFETCH[0]
    text = raw.text_of(source)
    assert text.isascii()
    target = tmp_path / "latin1.xml"
    target.write_bytes(
        text.replace(
            '<?xml version="1.0" ?>', '<?xml version="1.0" encoding="ISO-8859-1"?>'
        ).encode("latin-1")
    )
    assert b"ISO-8859-1" in target.read_bytes()[:60]
    assert parse_records(target) == parse_records(source)


@pytest.mark.parametrize("path", [raw.EFETCH[0], raw.BASELINE])
def test_a_lone_record_as_the_root_parses_whole(path: Path) -> None:
    """A file holding one bare PubmedArticle or MedlineCitation (no set around it)."""
    whole = {r.pmid: r for r in parse_records(path)}
    (record,) = parse_records(raw.articles(path)[0].encode())
    assert record == whole[record.pmid] and record.title
