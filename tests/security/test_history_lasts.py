"""History that lasts: the changelog keeps every run's changes, quiet nights add nothing, and
"what changed" compares with the last run whose inputs differ, also when inputs are reverted."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from evidence.runs import history as hist
from tests.conftest import synthesize
from tests.report.test_report import add_trial


def manifest(digest: str, estimate: float, level: str = "Low") -> hist.Manifest:
    """A run whose inputs are `digest`, with one pooled risk ratio and its certainty."""
    key = "aud|oral_vs_placebo|abstinence|all|primary"
    return hist.Manifest(
        run_id="",
        run_date="2026-11-25",
        protocol="p",
        protocol_version="1",
        rule_set_version="3",
        inputs_digest=digest * 16,
        input_hashes={},
        packages={},
        studies={"a_2001": "PMID:1"} | ({"b_2026": "PMID:2"} if digest == "b" else {}),
        ratings={"aud": {"label": "Alcohol use disorder", "level": "Mixed", "reasons": "r"}},
        certainty={key: level},
        pooled={key: {"label": "AUD: abstinence", "measure": "RR", "k": 1 + (digest == "b"),
                      "estimate": estimate, "ci_low": estimate - 0.5,
                      "ci_high": estimate + 0.5}},
    )


def test_a_to_b_quiet_nights_and_back_to_a() -> None:
    """A→B→B→B→A: three entries; every B compares with A; the return to A is a new entry,
    compared with B and marked as A's inputs again; B's change is kept throughout."""
    entries: list[hist.Manifest] = []
    seen = []
    for digest, estimate in [("a", 0.1), ("b", 0.7), ("b", 0.7), ("b", 0.7), ("a", 0.1)]:
        step = hist.advance(manifest(digest, estimate), entries)
        entries = step.entries
        seen.append((step.run.run_id, step.changes.old_run, step.repeated))
        log = hist.changelog("p", entries)
        if digest == "b":
            assert "b_2026" in log and "AUD: abstinence: RR 1.11" in log
    a1, b2, a3 = (m.run_id for m in entries)
    assert [m.sequence for m in entries] == [1, 2, 3]
    assert seen == [(a1, None, False), (b2, a1, False), (b2, a1, True), (b2, a1, True),
                    (a3, b2, False)]
    assert a1 != a3 and a1.startswith("0001-") and a3.startswith("0003-")
    assert entries[2].same_inputs_as == a1 and entries[2].previous_run == b2
    log = hist.changelog("p", entries)
    heads = [line for line in log.splitlines() if line.startswith("## Run ")]
    assert [h.split("`")[1] for h in heads] == [a3, b2, a1]  # newest first
    assert f"Its inputs are those of run `{a1}` again." in log
    assert "b_2026" in log.split(b2)[1]  # B's change is still there after the return to A
    assert "Studies no longer included:\n- b_2026 (PMID:2)" in entries[2].changes


def test_the_history_survives_a_round_trip_byte_for_byte(tmp_path: Path) -> None:
    entries = hist.advance(manifest("a", 0.1), []).entries
    entries = hist.advance(manifest("b", 0.7), entries).entries
    text = hist.history_json("p", entries)
    path = tmp_path / hist.HISTORY
    path.write_text(text, encoding="utf-8")
    again = hist.load_history(path, "p")
    assert hist.history_json("p", again) == text
    assert "run_date" not in text and "2026-11-25" not in text  # no wall clock in it


@pytest.mark.parametrize("bad", ["{", '{"protocol": "other", "runs": []}', '{"runs": [1]}'])
def test_an_unreadable_history_stops_the_run_naming_the_file(tmp_path: Path, bad: str) -> None:
    path = tmp_path / hist.HISTORY
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ValueError, match=str(path)):
        hist.load_history(path, "p")
    assert path.read_text(encoding="utf-8") == bad


def test_natural_scale() -> None:
    rr = {"measure": "RR", "k": 3, "estimate": math.log(2), "ci_low": math.log(1.5),
          "ci_high": math.log(4)}
    assert hist.natural(rr) == "RR 2.00 (1.50 to 4.00), k=3"
    plo = {"measure": "PLO", "k": 5, "estimate": 0.0, "ci_low": math.log(1 / 3),
           "ci_high": math.log(3)}
    assert hist.natural(plo) == "proportion 50.0% (25.0% to 75.0%), k=5"
    md = {"measure": "MD", "k": 2, "estimate": -1.234, "ci_low": -2.0, "ci_high": -0.5}
    assert hist.natural(md) == "MD -1.23 (-2.00 to -0.50), k=2"


def run(data: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch, day: str) -> Path:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", day)
    result = synthesize(data, tmp / "processed", tmp / "reports")
    assert result.exit_code == 0, result.output
    return tmp / "reports" / "baclofen"


def changes_section(reports: Path) -> str:
    html = (reports / "index.html").read_text(encoding="utf-8")
    return html.split('id="changes"')[1].split("</div>")[0]


def test_two_changes_with_a_quiet_night_between_and_a_revert(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real runs: A, B (a new trial), B again on a later day, then A again (the trial removed)."""
    saved = tmp_path / "a"
    shutil.copytree(data_copy, saved)
    run(data_copy, tmp_path, monkeypatch, "2026-11-24")
    add_trial(data_copy)
    reports = run(data_copy, tmp_path, monkeypatch, "2026-11-25")
    after_b = {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()}
    history = tmp_path / "processed" / "baclofen" / hist.HISTORY
    b_history = history.read_bytes()

    # a quiet night: same inputs, another day; nothing tracked changes, the change stays
    run(data_copy, tmp_path, monkeypatch, "2026-11-26")
    assert {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()} == after_b
    assert history.read_bytes() == b_history
    assert "newtrial_2026" in changes_section(reports)
    log = (reports / "changelog.md").read_text(encoding="utf-8")
    assert "newtrial_2026" in log and log.count("\n## Run ") == 2
    assert "2026-11-2" not in log.replace("2026-11-25", "")  # dated by the data, not the day

    # back to A's inputs: a third entry, compared with B, and B's change still in the log
    shutil.rmtree(data_copy)
    shutil.copytree(saved, data_copy)
    run(data_copy, tmp_path, monkeypatch, "2026-11-27")
    runs = json.loads(history.read_text(encoding="utf-8"))["runs"]
    assert [r["sequence"] for r in runs] == [1, 2, 3]
    assert runs[2]["inputs_digest"] == runs[0]["inputs_digest"] != runs[1]["inputs_digest"]
    section = changes_section(reports)
    assert runs[1]["run_id"] in section and "Studies no longer included" in section
    log = (reports / "changelog.md").read_text(encoding="utf-8")
    assert log.count("\n## Run ") == 3 and "New studies:\n- newtrial_2026" in log
    heads = [line.split("`")[1] for line in log.splitlines() if line.startswith("## Run ")]
    assert heads == [runs[2]["run_id"], runs[1]["run_id"], runs[0]["run_id"]]  # newest first


def test_a_search_that_finds_nothing_new_is_a_quiet_night(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nightly search moves its date; the history and the changelog stay as they were,
    and the report is dated by the newer search (the data's date), not by the run's day."""
    state = data_copy / "pubmed" / "search_state.json"
    state.parent.mkdir()
    tables = tmp_path / "processed" / "baclofen"
    kept = {}
    for day in ("2026-11-24", "2026-11-25"):
        state.write_text(json.dumps({"baclofen": {"spasticity": {"last_search": day}}}))
        reports = run(data_copy, tmp_path, monkeypatch, "2030-01-01")
        kept[day] = ((tables / hist.HISTORY).read_bytes(),
                     (reports / "changelog.md").read_bytes())
        assert f"data of {day}" in (reports / "report.md").read_text(encoding="utf-8")
    assert kept["2026-11-24"] == kept["2026-11-25"]
    assert b"2030-01-01" not in kept["2026-11-25"][0] + kept["2026-11-25"][1]
