"""Retracted studies leave the synthesis: every pool, vote count and rating input.

A study is retracted when the cached PubMed record of its PMID is (publication type "Retracted
Publication" or a RetractionIn notice, `evidence.pubmed.notices`). The protocol's
`exclude_retracted` (default true) decides whether such a study is left out; either way it is
listed in `retracted.csv` and named in the changelog with the date of its notice. Dropping the
study's rows before tabulating means pools, votes and ratings are all computed without it, the
way they would be had it never been extracted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.pubmed.notices import Retraction, retraction
from evidence.pubmed.records import PubmedRecord

RETRACTED_FILE = "retracted.csv"  # in PROCESSED/<protocol>/, written only when a study is
RETRACTED_COLUMNS = (
    "study_id",
    "reference",
    "retracted_on",
    "date_from",
    "notice_pmid",
    "notice",
    "excluded",
)


def study_retractions(
    refs: Mapping[str, str], records: Mapping[str, PubmedRecord]
) -> dict[str, Retraction]:
    """Study id → its retraction, for studies whose PMID's cached record is retracted."""
    out = {}
    for sid, ref in sorted(refs.items()):
        if not ref.startswith("PMID:"):
            continue
        record = records.get(ref.removeprefix("PMID:"))
        found = retraction(record) if record is not None else None
        if found is not None:
            out[sid] = found
    return out


def _without(frame: pd.DataFrame, studies: set[str]) -> pd.DataFrame:
    if frame is None or "study_id" not in frame.columns or frame.empty:
        return frame
    return frame[~frame["study_id"].isin(studies)].reset_index(drop=True)


def apply_retractions(snapshot: Snapshot, records: Mapping[str, PubmedRecord]) -> Snapshot:
    """The snapshot with its retractions noted and, if the protocol says so, those studies
    dropped from every table that carries them (studies, outcomes, effects, PubMed rows, RoB)."""
    found = study_retractions(snapshot.refs, records)
    if not found:
        return snapshot
    if not snapshot.protocol.exclude_retracted:
        return replace(snapshot, retracted=found)
    gone = set(found)
    rob = snapshot.risk_of_bias
    return replace(
        snapshot,
        studies=_without(snapshot.studies, gone),
        outcomes=_without(snapshot.outcomes, gone),
        study_effects=_without(snapshot.study_effects, gone),
        pubmed_records=_without(snapshot.pubmed_records, gone),
        risk_of_bias=None if rob is None else {s: r for s, r in rob.items() if s not in gone},
        refs={s: r for s, r in snapshot.refs.items() if s not in gone},
        retracted=found,
    )


def retracted_frame(snapshot: Snapshot, refs: Mapping[str, str]) -> pd.DataFrame:
    """retracted.csv: one row per retracted study, whether the protocol excluded it."""
    excluded = snapshot.protocol.exclude_retracted
    rows = [
        {
            "study_id": sid,
            "reference": refs.get(sid, f"PMID:{r.pmid}"),
            "retracted_on": r.date,
            "date_from": r.date_from,
            "notice_pmid": r.notice_pmid,
            "notice": r.notice,
            "excluded": "true" if excluded else "false",
        }
        for sid, r in sorted(snapshot.retracted.items())
    ]
    return pd.DataFrame(rows, columns=list(RETRACTED_COLUMNS))


def changelog_notes(snapshot: Snapshot) -> dict[str, str]:
    """Study id → 'PMID:n: retracted on <date> (notice ...)[; left out of every pool]'."""
    excluded = snapshot.protocol.exclude_retracted
    return {
        sid: f"PMID:{r.pmid}: {r.describe()}"
        + ("; left out of every pool, vote count and rating" if excluded else "; still included")
        for sid, r in sorted(snapshot.retracted.items())
    }
