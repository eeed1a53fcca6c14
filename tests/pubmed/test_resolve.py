"""Resolving studies without a PMID: by DOI, by title/author/year, never by guessing."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import yaml

from evidence.pubmed.client import EutilsClient
from evidence.pubmed.parse import parse_records
from evidence.pubmed.resolve import (
    Target,
    offline_resolutions,
    resolution_targets,
    resolve,
    resolve_target,
    title_author_year_term,
)
from tests.pubmed import rawfacts as raw
from tests.pubmed.eutils_server import Fault, StandIn

Build = Callable[..., EutilsClient]


def _records() -> dict[str, object]:
    return {r.pmid: r for p in raw.EFETCH for r in parse_records(p)}


def test_targets_are_the_studies_and_citations_without_a_pmid(data_copy: Path) -> None:
    with (data_copy / "studies.csv").open(encoding="utf-8", newline="") as handle:
        studies = list(csv.DictReader(handle))
    with (data_copy / "pubmed_records.csv").open(encoding="utf-8", newline="") as handle:
        paged = {r["study_id"] for r in csv.DictReader(handle) if r["pmid"]}
    citations = data_copy / "citations" / "baclofen.yaml"
    targets = resolution_targets(data_copy, citations)
    ids = {t.study_id for t in targets}
    without = {s["study_id"] for s in studies if not s["pmid"] and s["study_id"] not in paged}
    assert ids == without
    cited = yaml.safe_load(citations.read_text(encoding="utf-8"))["citations"]
    for citation in cited:
        for cand in citation.get("candidates") or []:
            if cand.get("study_id") in ids:
                target = next(t for t in targets if t.study_id == cand["study_id"])
                assert citation["number"] in target.citations
    by_id = {s["study_id"]: s for s in studies}
    for target in targets:
        assert target.doi == by_id[target.study_id]["doi"] or not by_id[target.study_id]["doi"]


def test_doi_then_title_author_year_then_nothing(standin: StandIn, make_client: Build) -> None:
    records = _records()
    with_doi = next(r for r in records.values() if r.doi)
    no_doi = next(r for r in records.values() if not r.doi and r.authors and r.year)
    client = make_client()
    by_doi = resolve_target(client, Target("s1", doi=with_doi.doi))
    assert (by_doi.status, by_doi.method, by_doi.pmid) == ("matched", "doi", with_doi.pmid)
    by_title = resolve_target(
        client,
        Target(
            "s2",
            doi="10.9999/not-in-pubmed",
            title=no_doi.title,
            first_author=no_doi.authors[0],
            year=str(no_doi.year),
        ),
    )
    assert (by_title.status, by_title.method, by_title.pmid) == (
        "matched",
        "title_author_year",
        no_doi.pmid,
    )
    nothing = resolve_target(client, Target("s3", title=no_doi.title, first_author="Nobody X"))
    assert nothing.status == "missing" and not nothing.pmid
    bare = resolve_target(client, Target("s4"))
    assert bare.status == "unresolvable"


def test_several_hits_are_ambiguous_not_a_choice(standin: StandIn, make_client: Build) -> None:
    records = list(_records().values())
    first = records[0]
    term = title_author_year_term(first.title, first.authors[0], str(first.year))
    standin.state.queries[term] = [records[0].pmid, records[1].pmid]
    result = resolve_target(
        make_client(),
        Target("s", title=first.title, first_author=first.authors[0], year=str(first.year)),
    )
    assert result.status == "ambiguous" and result.pmid == ""
    assert set(result.candidates) == {records[0].pmid, records[1].pmid}


def test_a_failing_lookup_is_reported_not_raised(standin: StandIn, make_client: Build) -> None:
    standin.state.add_fault(Fault("status", "esearch.fcgi", status=500, times=10))
    records = list(_records().values())
    results = resolve(make_client(max_tries=2), [Target("s", doi=records[0].doi or "10.1/x")])
    assert results[0].status == "error" and "HTTP 500" in results[0].detail


def test_offline_lists_what_each_target_could_be_found_by() -> None:
    targets = [Target("a", doi="10.1/x"), Target("b", title="Some title"), Target("c")]
    statuses = [r.status for r in offline_resolutions(targets)]
    assert statuses == ["offline", "offline", "unresolvable"]
