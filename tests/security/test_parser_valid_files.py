"""Every well-formed PubMed file parses, whatever it holds besides records (comments, processing
instructions, CDATA), and however large one record is; an error names the line of the input
itself. How long a large record takes is measured in bench/scale/parser.py, not asserted here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.scale.parser import big_record
from evidence.pubmed.parse import Limits, PubmedParseError, parse_records
from tests.pubmed import rawfacts as raw

SOURCE = raw.EFETCH[0].parent / "biopython-pubmed7.xml"  # has a reference list


def _text() -> str:
    return raw.text_of(SOURCE)


# Comments and processing instructions that name elements the old scanner dropped at byte level
# (it read `<ReferenceList>` inside a comment as the start of one and skipped to its end).
ASIDES = {
    "comment naming a pruned tag": "<!-- <ReferenceList> was here -->",
    "comment naming a record": "<!-- </PubmedArticle> -->",
    "comment naming a closing list": "<!-- </AuthorList></MeshHeadingList> -->",
    "processing instruction": "<?note <ReferenceList> ?>",
    "cdata with markup": "<![CDATA[ <ReferenceList> </PubmedArticle> ]]>",
}


@pytest.mark.parametrize("name", sorted(ASIDES))
def test_asides_naming_tags_are_accepted(tmp_path: Path, name: str) -> None:
    text = _text()
    aside = ASIDES[name]
    if name.startswith("cdata"):  # character data: only where text may be
        changed = text.replace("<ArticleTitle>", "<ArticleTitle>" + aside, 1)
    else:  # between records, inside a record and inside a reference list
        changed = text.replace("<PubmedArticle>", aside + "<PubmedArticle>" + aside, 1)
        changed = changed.replace("<Reference>", "<Reference>" + aside, 1)
    assert changed != text
    path = tmp_path / "aside.xml"
    path.write_text(changed, encoding="utf-8")
    (record,) = parse_records(path)
    (expected,) = parse_records(SOURCE)
    if name.startswith("cdata"):
        assert record.title.startswith("<ReferenceList> </PubmedArticle> ")
        assert record.abstract == expected.abstract and record.authors == expected.authors
    else:
        assert record == expected


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_syntax_error_names_the_line_in_the_file(tmp_path: Path) -> None:
    text = _text()
    broken = text.replace("</Initials>", "</Initial>", 1)
    path = tmp_path / "broken.xml"
    path.write_text(broken, encoding="utf-8")
    line = _line_of(broken, "</Initial>")
    with pytest.raises(PubmedParseError, match=rf"{re.escape(str(path))}: line {line}, column"):
        parse_records(path)


def test_an_undefined_entity_names_its_line(tmp_path: Path) -> None:
    """The file names an external DTD, which is never loaded: the entity stays undefined."""
    text = _text()
    assert "<!DOCTYPE" in text
    broken = text.replace("</ArticleTitle>", "&nbsp;</ArticleTitle>", 1)
    path = tmp_path / "entity.xml"
    path.write_text(broken, encoding="utf-8")
    line = _line_of(broken, "&nbsp;")
    with pytest.raises(PubmedParseError, match=rf"line {line}, column \d+: .*undefined entity"):
        parse_records(path)


def test_a_refused_pmid_names_its_line(tmp_path: Path) -> None:
    text = _text()
    pmid = raw.pmid_of(text)
    bad = text.replace(f">{pmid}</PMID>", ">12x4</PMID>", 1)
    path = tmp_path / "pmid.xml"
    path.write_text(bad, encoding="utf-8")
    line = _line_of(bad, ">12x4</PMID>")
    with pytest.raises(PubmedParseError, match=rf"record 1, line {line}: .*'12x4' refused"):
        parse_records(path)


@pytest.mark.parametrize(("kind", "field"), [("abstract", "abstract"), ("authors", "authors")])
def test_a_ten_megabyte_record_parses_whole(tmp_path: Path, kind: str, field: str) -> None:
    path = tmp_path / f"{kind}.xml"
    pieces = big_record(path, 10_000_000, kind)
    assert path.stat().st_size > 9_000_000
    (record,) = parse_records(path, limits=Limits(max_record=64 << 20, max_elements=1 << 20))
    if field == "abstract":
        labels = re.findall(r"^P(\d+): ", record.abstract, re.M)
        assert labels[-pieces:] == [str(i) for i in range(pieces)]
    else:
        added = [a for a in record.authors if a.startswith("Author")]
        assert added == [f"Author{i} T" for i in range(pieces)]
    with pytest.raises(PubmedParseError, match=r"larger than 1 MiB|more than 1,000 elements"):
        parse_records(path, limits=Limits(max_record=1 << 20, max_elements=1000))


def test_a_record_exactly_at_the_limits_is_accepted(tmp_path: Path) -> None:
    """Limits are checked between chunks on what has been parsed: a record as large as allowed,
    with as many elements as allowed, is never refused for where the chunks happened to end."""
    path = tmp_path / "authors.xml"
    big_record(path, 3_000_000, "authors")
    data = path.read_bytes()
    record = data[data.index(b"<PubmedArticle>") : data.index(b"</PubmedArticle>") + 16]
    elements = len(list(ET.fromstring(record).iter()))
    exact = Limits(max_record=len(record), max_elements=elements)
    (parsed,) = parse_records(path, limits=exact)
    assert len(parsed.authors) > 20_000
    with pytest.raises(PubmedParseError, match=f"more than {elements - 1:,} elements"):
        parse_records(path, limits=Limits(max_record=len(record), max_elements=elements - 1))
