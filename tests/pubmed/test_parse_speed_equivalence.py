"""The fast XML path (records cut from the byte stream, unread subtrees dropped, plain MeSH and
author lists read without ElementTree) must give exactly what ElementTree gives on the whole
document, on every fixture and on hand-made variants of the shapes it treats specially."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evidence.pubmed import parse
from evidence.pubmed.parse import PubmedParseError, parse_records, record_from_element
from evidence.pubmed.records import PubmedRecord
from tests.pubmed import rawfacts as raw

_RECORD_TAGS = {"PubmedArticle", "PubmedBookArticle", "MedlineCitation"}

# sha256 of every record of every fixture (the fields below, as JSON), as the parser gave them
# before the fast path existed. A deliberate change of what the parser returns updates it.
_FIELDS = (
    "pmid",
    "title",
    "abstract",
    "journal",
    "journal_abbrev",
    "year",
    "pub_date",
    "entrez_date",
    "authors",
    "publication_types",
    "mesh_headings",
    "humans",
    "animals",
    "doi",
    "pmc",
    "languages",
    "notices",
    "retracted",
    "status",
    "kind",
)
_FIXTURE_DIGEST = "13e1d583f4554919248b96bbbf55b38050f9249ef4d2008193e4970a4202159f"


def _bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _reference(data: bytes) -> list[PubmedRecord]:
    """Records from ElementTree on the whole document: no cutting, pruning or fast path."""
    root = ET.fromstring(data)
    if root.tag in _RECORD_TAGS:
        return [record_from_element(root)]
    return [record_from_element(e) for e in root if e.tag in _RECORD_TAGS]


def test_fixture_records_are_unchanged() -> None:
    digest = hashlib.sha256()
    for path in raw.RECORD_FILES:
        for record in parse_records(path):
            data = record.to_dict()
            digest.update(
                json.dumps(
                    {k: data[k] for k in _FIELDS}, sort_keys=True, ensure_ascii=False
                ).encode()
            )
            digest.update(b"\n")
    assert digest.hexdigest() == _FIXTURE_DIGEST


@pytest.mark.parametrize("path", [*raw.EFETCH, raw.BASELINE], ids=lambda p: p.name)
def test_fixtures_match_elementtree_on_the_whole_document(path: Path) -> None:
    assert parse_records(path) == _reference(_bytes(path))


@pytest.mark.parametrize("chunk", [1, 7, 250, 4096])
def test_chunk_boundaries_do_not_matter(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    expected = {p: parse_records(p) for p in raw.EFETCH}
    monkeypatch.setattr(parse, "_CHUNK", chunk)
    for path, records in expected.items():
        assert parse_records(path) == records, path.name


def test_chunk_boundaries_in_a_citation_set(monkeypatch: pytest.MonkeyPatch) -> None:
    deleted: list[str] = []
    expected = parse_records(raw.BASELINE, deleted=deleted)
    monkeypatch.setattr(parse, "_CHUNK", 997)
    again: list[str] = []
    assert parse_records(raw.BASELINE, deleted=again) == expected
    assert again == deleted


# ------------------------------------------------------------------ variants of the fast shapes

_TEMPLATE = raw.articles(raw.EFETCH[-1])[0]
_HEADER = raw.text_of(raw.EFETCH[-1]).split("<PubmedArticleSet>")[0]
_ONE_AUTHOR = '<Author ValidYN="Y"><LastName>Solo</LastName><Initials>S</Initials></Author>'
_ONE_HEADING = (
    '<MeshHeading><DescriptorName UI="D006801" MajorTopicYN="N">Humans</DescriptorName>'
    "</MeshHeading>"
)

AUTHOR_LISTS = {
    "pretty": (
        '<AuthorList CompleteYN="Y">\n  <Author ValidYN="Y">\n    <LastName>Smith</LastName>\n'
        "    <ForeName>Ann</ForeName>\n    <Initials>A</Initials>\n    <AffiliationInfo>\n"
        "      <Affiliation>Dept. A &amp; B</Affiliation>\n    </AffiliationInfo>\n"
        "  </Author>\n</AuthorList>"
    ),
    "crlf and tabs": (
        '<AuthorList CompleteYN="Y">\r\n\t<Author ValidYN="Y">\r\n\t\t<LastName>Tab</LastName>'
        "\r\n\t\t<Initials>T</Initials>\r\n\t</Author>\r\n</AuthorList>"
    ),
    "entities": (
        '<AuthorList><Author ValidYN="Y"><LastName>O&apos;Brien &lt;Jr&gt; &amp; Co</LastName>'
        "<Initials>&quot;Q&quot;</Initials></Author></AuthorList>"
    ),
    "character references": (
        "<AuthorList><Author><LastName>Ren&#233;e &#x4E2D;</LastName><Initials>R</Initials>"
        "</Author></AuthorList>"
    ),
    "spaces in names": (
        '<AuthorList><Author ValidYN="Y"><LastName>  van  der\n Berg </LastName>'
        "<Initials>  J K </Initials></Author></AuthorList>"
    ),
    "carriage return in a name": (
        "<AuthorList><Author><LastName>Line\r\nBreak</LastName></Author></AuthorList>"
    ),
    "non-ascii": (
        '<AuthorList><Author ValidYN="Y"><LastName>Müller-Łukasiewicz 山田</LastName>'
        "<Initials>É</Initials></Author></AuthorList>"
    ),
    "collective name with markup": (
        '<AuthorList><Author ValidYN="Y"><CollectiveName>The <i>ABC</i> <b>Study</b>\n Group'
        "</CollectiveName></Author></AuthorList>"
    ),
    "collective name": (
        '<AuthorList><Author ValidYN="Y"><CollectiveName>  COVID-19 \t Consortium '
        "</CollectiveName></Author>" + _ONE_AUTHOR + "</AuthorList>"
    ),
    "invalid author": (
        '<AuthorList><Author ValidYN="N"><LastName>Wrong</LastName><Initials>W</Initials>'
        '</Author><Author ValidYN="Y"><LastName>Right</LastName><Initials>R</Initials>'
        "</Author></AuthorList>"
    ),
    "editors": '<AuthorList CompleteYN="Y" Type="editors">' + _ONE_AUTHOR + "</AuthorList>",
    "equal contribution": (
        '<AuthorList><Author ValidYN="Y" EqualContrib="Y"><LastName>A</LastName>'
        '<Initials>B</Initials></Author><Author EqualContrib="Y" ValidYN="N">'
        "<LastName>C</LastName></Author></AuthorList>"
    ),
    "empty names": (
        "<AuthorList><Author><LastName></LastName><Initials>X</Initials></Author>"
        "<Author><LastName> </LastName></Author><Author><LastName/><Initials/></Author>"
        '<Author ValidYN="Y"><LastName>Only</LastName><Initials> </Initials></Author>'
        "<Author></Author></AuthorList>"
    ),
    "identifiers and affiliations": (
        '<AuthorList><Author ValidYN="Y"><LastName>Orcid</LastName><ForeName>O</ForeName>'
        '<Initials>O</Initials><Suffix>Jr</Suffix><Identifier Source="ORCID">0000-0001</Identifier>'
        '<AffiliationInfo><Affiliation>Lab</Affiliation><Identifier Source="GRID">g.1'
        "</Identifier></AffiliationInfo><AffiliationInfo><Affiliation>Other</Affiliation>"
        "</AffiliationInfo></Author></AuthorList>"
    ),
    "affiliation of another shape": (
        '<AuthorList><Author ValidYN="Y"><LastName>Aff</LastName><Initials>A</Initials>'
        '<AffiliationInfo Type="x"><Affiliation>X <i>Y</i></Affiliation></AffiliationInfo>'
        "</Author></AuthorList>"
    ),
    "unknown child": (
        '<AuthorList><Author ValidYN="Y"><LastName>Un</LastName><Initials>U</Initials><Foo/>'
        "</Author></AuthorList>"
    ),
    "two last names": (
        "<AuthorList><Author><LastName>First</LastName><LastName>Second</LastName>"
        "<Initials>F</Initials></Author></AuthorList>"
    ),
    "initials first": (
        '<AuthorList><Author ValidYN="Y"><Initials>I</Initials><LastName>Late</LastName>'
        "</Author></AuthorList>"
    ),
    "spaces in tags": (
        '<AuthorList  CompleteYN = "Y" ><Author   ValidYN="Y" ><LastName >Sp</LastName >'
        "<Initials>S</Initials></Author ></AuthorList >"
    ),
    "single quotes": (
        "<AuthorList CompleteYN='Y'><Author ValidYN='N'><LastName>Quoted</LastName></Author>"
        + _ONE_AUTHOR
        + "</AuthorList>"
    ),
    "empty": '<AuthorList CompleteYN="Y"></AuthorList>',
    "self-closing": "<AuthorList/>",
    "namespaced": (
        '<AuthorList xmlns="urn:example"><Author><LastName>Ns</LastName></Author></AuthorList>'
    ),
    "two lists": (
        '<AuthorList Type="authors"><Author><LastName>One</LastName></Author></AuthorList>'
        "<AuthorList><Author><LastName>Two</LastName></Author></AuthorList>"
    ),
}

MESH_LISTS = {
    "pretty": (
        "<MeshHeadingList>\n  <MeshHeading>\n"
        '    <DescriptorName UI="D006801" MajorTopicYN="N">Humans</DescriptorName>\n'
        "  </MeshHeading>\n  <MeshHeading>\n"
        '    <DescriptorName MajorTopicYN="Y" UI="D017116">Low Back Pain</DescriptorName>\n'
        '    <QualifierName MajorTopicYN="N" UI="Q000175">diagnosis</QualifierName>\n'
        '    <QualifierName UI="Q000033" MajorTopicYN="Y">anatomy &amp; histology'
        "</QualifierName>\n  </MeshHeading>\n</MeshHeadingList>"
    ),
    "crlf": (
        '<MeshHeadingList>\r\n<MeshHeading>\r\n<DescriptorName UI="D000818" MajorTopicYN="N">'
        "Animals</DescriptorName>\r\n</MeshHeading>\r\n</MeshHeadingList>"
    ),
    "geographic": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D014481" MajorTopicYN="N" '
        'Type="Geographic">United States</DescriptorName></MeshHeading></MeshHeadingList>'
    ),
    "missing or empty ids": (
        '<MeshHeadingList><MeshHeading><DescriptorName MajorTopicYN="N">Animals'
        '</DescriptorName></MeshHeading><MeshHeading><DescriptorName UI="" MajorTopicYN="">'
        "Humans</DescriptorName></MeshHeading></MeshHeadingList>"
    ),
    "entities": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">'
        "A &lt;b&gt; &quot;c&quot; &apos;d&apos;</DescriptorName>"
        '<QualifierName UI="Q1" MajorTopicYN="N">x &amp; y</QualifierName></MeshHeading>'
        "</MeshHeadingList>"
    ),
    "character reference": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">Caf&#233;'
        "</DescriptorName></MeshHeading></MeshHeadingList>"
    ),
    "whitespace in names": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">  Two  spaces'
        '\n and\tlines </DescriptorName><QualifierName UI="Q1" MajorTopicYN="N"> lead\ttab'
        '</QualifierName></MeshHeading><MeshHeading><DescriptorName UI="D2" MajorTopicYN="N">'
        "no\u00a0break\u2003em</DescriptorName></MeshHeading></MeshHeadingList>"
    ),
    "no descriptor": (
        '<MeshHeadingList><MeshHeading><QualifierName UI="Q1" MajorTopicYN="N">q'
        "</QualifierName></MeshHeading>" + _ONE_HEADING + "</MeshHeadingList>"
    ),
    "two descriptors": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">First'
        '</DescriptorName><DescriptorName UI="D2" MajorTopicYN="Y">Second</DescriptorName>'
        "</MeshHeading></MeshHeadingList>"
    ),
    "qualifier first": (
        '<MeshHeadingList><MeshHeading><QualifierName UI="Q1" MajorTopicYN="N">q'
        '</QualifierName><DescriptorName UI="D1" MajorTopicYN="N">D</DescriptorName>'
        "</MeshHeading></MeshHeadingList>"
    ),
    "other child": "<MeshHeadingList><Other/>" + _ONE_HEADING + "</MeshHeadingList>",
    "markup in a name": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">A <i>b</i>'
        "</DescriptorName></MeshHeading></MeshHeadingList>"
    ),
    "empty names": (
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">'
        '</DescriptorName></MeshHeading><MeshHeading><DescriptorName UI="D2" MajorTopicYN="N"/>'
        "</MeshHeading></MeshHeadingList>"
    ),
    "names only": (
        '<MeshHeadingList><MeshHeading><DescriptorName MajorTopicYN="N">Humans'
        '</DescriptorName></MeshHeading><MeshHeading><DescriptorName MajorTopicYN="N">Animals'
        "</DescriptorName></MeshHeading></MeshHeadingList>"
    ),
    "attribute on the list": '<MeshHeadingList Owner="NLM">' + _ONE_HEADING + "</MeshHeadingList>",
    "empty": "<MeshHeadingList></MeshHeadingList>",
    "self-closing": "<MeshHeadingList/>",
    "none": "",
}

# Inputs ElementTree rejects; the fast path must not accept them either.
BROKEN = {
    "control character": ("<LastName>Solo</LastName>", "<LastName>So\x01lo</LastName>"),
    "undefined entity": (">Humans</DescriptorName>", ">Hu&nbsp;mans</DescriptorName>"),
    "invalid character reference": (">Humans</DescriptorName>", ">Hu&#0;mans</DescriptorName>"),
    "non-character": (">Humans</DescriptorName>", ">Hu\ufffemans</DescriptorName>"),
    "cdata end in text": ("<LastName>Solo</LastName>", "<LastName>So]]>lo</LastName>"),
    "mismatched tag": ("<Initials>S</Initials>", "<Initials>S</Initial>"),
    "duplicate attribute": ('UI="D006801"', 'UI="D006801" UI="D1"'),
    "form feed between tags": ("</MeshHeading>", "</MeshHeading>\f"),
    "unquoted attribute": ('ValidYN="Y"', "ValidYN=Y"),
    "lt in attribute": ('UI="D006801"', 'UI="D<1"'),
}


def _article(authors: str, mesh: str) -> str:
    article = re.sub(r"<AuthorList[^>]*>.*?</AuthorList>", lambda m: authors, _TEMPLATE, flags=re.S)
    return re.sub(r"<MeshHeadingList>.*?</MeshHeadingList>", lambda m: mesh, article, flags=re.S)


def _write(tmp_path: Path, name: str, articles: list[str]) -> Path:
    path = tmp_path / (re.sub(r"\W+", "-", name) + ".xml")
    body = "\n".join(articles)
    path.write_bytes(f"{_HEADER}<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n".encode())
    return path


def _check(path: Path) -> list[PubmedRecord]:
    records = parse_records(path)
    assert records == _reference(path.read_bytes())
    return records


def test_template_has_both_lists() -> None:
    assert "<MeshHeadingList>" in _TEMPLATE and "<AuthorList" in _TEMPLATE


@pytest.mark.parametrize("name", sorted(AUTHOR_LISTS))
def test_author_list_variants(tmp_path: Path, name: str) -> None:
    mesh = "<MeshHeadingList>" + _ONE_HEADING + "</MeshHeadingList>"
    (record,) = _check(_write(tmp_path, name, [_article(AUTHOR_LISTS[name], mesh)]))
    assert record.mesh_headings[0].descriptor == "Humans"


@pytest.mark.parametrize("name", sorted(MESH_LISTS))
def test_mesh_list_variants(tmp_path: Path, name: str) -> None:
    authors = "<AuthorList>" + _ONE_AUTHOR + "</AuthorList>"
    (record,) = _check(_write(tmp_path, name, [_article(authors, MESH_LISTS[name])]))
    assert record.authors == ("Solo S",)


def test_variants_side_by_side_in_one_file(tmp_path: Path) -> None:
    mesh = list(MESH_LISTS.values())
    articles = [
        _article(authors, mesh[i % len(mesh)]).replace(
            f">{raw.pmid_of(_TEMPLATE)}</PMID>", f">{70_000_000 + i}</PMID>", 1
        )
        for i, authors in enumerate(AUTHOR_LISTS.values())
    ]
    records = _check(_write(tmp_path, "side-by-side", articles))
    assert len(records) == len(AUTHOR_LISTS)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_malformed_lists_are_errors_naming_the_file(tmp_path: Path, name: str) -> None:
    old, new = BROKEN[name]
    authors = "<AuthorList>" + _ONE_AUTHOR + "</AuthorList>"
    article = _article(authors, "<MeshHeadingList>" + _ONE_HEADING + "</MeshHeadingList>")
    assert old in article
    path = _write(tmp_path, name, [article.replace(old, new, 1)])
    with pytest.raises(ET.ParseError):
        ET.fromstring(path.read_bytes())
    with pytest.raises(PubmedParseError, match=re.escape(str(path))):
        parse_records(path)


def test_invalid_utf8_in_a_list_is_an_error(tmp_path: Path) -> None:
    authors = "<AuthorList>" + _ONE_AUTHOR + "</AuthorList>"
    path = _write(
        tmp_path,
        "utf8",
        [_article(authors, "<MeshHeadingList>" + _ONE_HEADING + "</MeshHeadingList>")],
    )
    path.write_bytes(path.read_bytes().replace(b">Solo<", b">So\xfflo<", 1))
    with pytest.raises(PubmedParseError, match=re.escape(str(path))):
        parse_records(path)


def test_unclosed_list_is_an_error_naming_the_file(tmp_path: Path) -> None:
    article = _TEMPLATE.replace("</AuthorList>", "", 1)
    path = _write(tmp_path, "unclosed", [article, _TEMPLATE])
    with pytest.raises(PubmedParseError, match=re.escape(str(path))):
        parse_records(path)


def test_spaces_before_the_end_of_closing_tags(tmp_path: Path) -> None:
    """`</ReferenceList >` is well formed: it must not make the cutting run into the next
    record."""
    articles = [a for p in raw.EFETCH for a in raw.articles(p)]
    names = (
        "ReferenceList",
        "AuthorList",
        "MeshHeadingList",
        "Abstract",
        "History",
        "CommentsCorrectionsList",
        "CommentsCorrections",
        "KeywordList",
    )
    spaced = []
    for article in articles:
        for name in names:
            article = article.replace(f"</{name}>", f"</{name} \n>")
        spaced.append(article)
    assert sum(a.count("</ReferenceList \n>") for a in spaced) > 1
    records = _check(_write(tmp_path, "spaced", spaced))
    assert records == _reference(_write(tmp_path, "plain", articles).read_bytes())


# ------------------------------------------------------------ History, notices, dropped elements

_ENTREZ = (
    '<PubMedPubDate PubStatus="entrez"><Year>2022</Year><Month>11</Month><Day>18</Day>'
    "<Hour>21</Hour><Minute>8</Minute></PubMedPubDate>"
)
HISTORIES = {
    "month name": _ENTREZ.replace("<Month>11</Month>", "<Month>Nov</Month>"),
    "no day, seconds": _ENTREZ.replace("<Day>18</Day>", "").replace(
        "</Minute>", "</Minute><Second>5</Second>"
    ),
    "spaces": _ENTREZ.replace("<Year>2022</Year>", "<Year> 2022 </Year>\n  "),
    "first without a year": _ENTREZ.replace("<Year>2022</Year>", "") + _ENTREZ,
    "odd year": _ENTREZ.replace("<Year>2022</Year>", "<Year>20 22</Year>") + _ENTREZ,
    "single quotes": _ENTREZ.replace('PubStatus="entrez"', "PubStatus = 'entrez'"),
    "extra child": _ENTREZ.replace("</Minute>", "</Minute><Note>x</Note>"),
    "non-ascii": _ENTREZ.replace("<Month>11</Month>", "<Month>Növ</Month>"),
    "other statuses only": _ENTREZ.replace('"entrez"', '"pubmed"'),
    "self-closing": '<PubMedPubDate PubStatus="entrez"/>' + _ENTREZ,
    "empty": "",
}


def _notice(ref_type: str, quote: str = '"', source: str = "Lancet. 2020;1:2") -> str:
    return (
        f"<CommentsCorrections RefType={quote}{ref_type}{quote}><RefSource>{source}</RefSource>"
        f'<PMID Version="1">123</PMID></CommentsCorrections>'
    )


NOTICES = {
    "erratum": _notice("ErratumIn"),
    "cites only": _notice("Cites") * 3,
    "single quotes": _notice("RetractionIn", "'"),
    "spaced": _notice("Cites").replace('RefType="Cites"', 'RefType = "ExpressionOfConcernIn"'),
    "value in text": _notice("Cites", source='RefType="ErratumIn" in a title'),
    "self-closing": '<CommentsCorrections RefType="ErratumFor"/>' + _notice("CommentIn"),
    "mixed": _notice("CommentIn") + _notice("RetractionOf") + _notice("Cites"),
    "similar attribute": _notice("Cites").replace("RefType=", 'XRefType="ErratumIn" RefType='),
}

DROPPED = {
    "attributes": ("<DateCompleted>", '<DateCompleted Owner="NLM">'),
    "self-closing child": ("<Day>22</Day>", "<Day/>"),
    "nested deeper": ("<Day>22</Day>", "<Day><i>22</i></Day>"),
    "self-closing": (
        "<Pagination><StartPage>61</StartPage><EndPage>76</EndPage>"
        "<MedlinePgn>61-76</MedlinePgn></Pagination>",
        "<Pagination/>",
    ),
    "spaced closing tag": ("</DateRevised>", "</DateRevised >"),
}


def _with_history(entries: str) -> str:
    return re.sub(
        r"<History>.*?</History>", lambda m: f"<History>{entries}</History>", _TEMPLATE, flags=re.S
    )


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_history_variants(tmp_path: Path, name: str) -> None:
    _check(_write(tmp_path, name, [_with_history(HISTORIES[name])]))


@pytest.mark.parametrize("name", sorted(NOTICES))
def test_notice_variants(tmp_path: Path, name: str) -> None:
    block = f"<CommentsCorrectionsList>{NOTICES[name]}</CommentsCorrectionsList>"
    article = _TEMPLATE.replace("<MeshHeadingList>", block + "<MeshHeadingList>", 1)
    _check(_write(tmp_path, name, [article]))


@pytest.mark.parametrize("name", sorted(DROPPED))
def test_unread_element_variants(tmp_path: Path, name: str) -> None:
    old, new = DROPPED[name]
    assert old in _TEMPLATE
    _check(_write(tmp_path, name, [_TEMPLATE.replace(old, new, 1)]))


def test_nested_record_is_an_error_naming_the_file(tmp_path: Path) -> None:
    article = _TEMPLATE.replace("<PubmedData>", "<PubmedArticle><PubmedData>", 1)
    path = _write(tmp_path, "nested", [article, _TEMPLATE])
    with pytest.raises(PubmedParseError, match=re.escape(str(path))):
        parse_records(path)


def test_far_closing_tags_are_read_the_slow_way(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {p: parse_records(p) for p in [*raw.EFETCH, raw.BASELINE]}
    monkeypatch.setattr(parse, "_CHUNK", 64)
    monkeypatch.setattr(parse, "_HOLD", 100)
    for path, records in expected.items():
        assert parse_records(path) == records, path.name


def test_collapse_is_split_and_join() -> None:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    samples = ["a", " a", "a ", "a  b", "a b c", "x\u00ady", "é b", "\u0301a b"]
    samples += [f"a{s}b" for s in spaces] + [f"{s}a" for s in spaces] + [f"a{s}" for s in spaces]
    samples += [f"é{s}b" for s in spaces] + [f"a {s} b" for s in spaces]
    for text in samples:
        assert parse._collapse(text) == " ".join(text.split()), repr(text)


def test_an_empty_record_element_is_an_error_not_a_crash(tmp_path: Path) -> None:
    articles = raw.articles(raw.EFETCH[0])
    path = _write(tmp_path, "empty-record", [articles[0], "<PubmedArticle/>", articles[1]])
    with pytest.raises(PubmedParseError, match=re.escape(str(path)) + ": record 2"):
        parse_records(path)


_ISSUE = '<JournalIssue CitedMedium="Internet"><Volume>41</Volume><Issue>1</Issue>'
JOURNALS = {
    "day": f"{_ISSUE}<PubDate><Year>2023</Year><Month>02</Month><Day>7</Day></PubDate>",
    "season": f"{_ISSUE}<PubDate><Year>2023</Year><Season>Spring</Season></PubDate>",
    "medline date": f"{_ISSUE}<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate>",
    "medline date, spaces": (
        f"{_ISSUE}<PubDate><MedlineDate>  Winter\n 1999 &amp; 2000 </MedlineDate></PubDate>"
    ),
    "medline date, no year": f"{_ISSUE}<PubDate><MedlineDate>n.d.</MedlineDate></PubDate>",
    "bad month and day": (
        f"{_ISSUE}<PubDate><Year>2023</Year><Month>13</Month><Day>40</Day></PubDate>"
    ),
    "empty year": f"{_ISSUE}<PubDate><Year></Year></PubDate>",
    "no issue fields": "<JournalIssue><PubDate><Year>1990</Year></PubDate>",
    "character reference": f"{_ISSUE}<PubDate><Year>2&#48;23</Year></PubDate>",
    "digits beyond ascii": f"{_ISSUE}<PubDate><Year>2023</Year><Month>٠٢</Month></PubDate>",
}


def _with_journal(issue: str, tail: str) -> str:
    journal = f'<Journal><ISSN IssnType="Print">1</ISSN>{issue}</JournalIssue>{tail}</Journal>'
    return re.sub(r"<Journal>.*?</Journal>", lambda m: journal, _TEMPLATE, flags=re.S)


@pytest.mark.parametrize("name", sorted(JOURNALS))
def test_journal_variants(tmp_path: Path, name: str) -> None:
    tail = "<Title>Neurologic clinics</Title><ISOAbbreviation>Neurol Clin</ISOAbbreviation>"
    _check(_write(tmp_path, name, [_with_journal(JOURNALS[name], tail)]))


@pytest.mark.parametrize(
    "tail",
    [
        "",
        "<Title>A &amp; B  journal\n</Title>",
        "<Title>The <i>Lancet</i></Title><ISOAbbreviation>Lancet</ISOAbbreviation>",
        "<ISOAbbreviation> </ISOAbbreviation>",
        "<Title/><ISOAbbreviation/>",
        "<ISOAbbreviation>J</ISOAbbreviation><Title>Late</Title>",
    ],
)
def test_journal_title_variants(tmp_path: Path, tail: str) -> None:
    issue = JOURNALS["day"]
    _check(_write(tmp_path, "title", [_with_journal(issue, tail)]))
