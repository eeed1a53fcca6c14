"""`evidence diff`: effects on their natural scale, analyses in the protocol's words, and why a
level or certainty changed; runs found in the local archive or in the tracked history."""

from __future__ import annotations

import math
from pathlib import Path

from typer.testing import CliRunner

from evidence.cli import app
from evidence.runs import history as hist

runner = CliRunner()
RR_KEY = "aud|oral_vs_placebo|abstinence|all|primary"
PLO_KEY = "hiccups|oral_single_group|palliation|all|primary"


def manifest(run_id: str, rr: float, plo: float, imprecision: str, level: str) -> hist.Manifest:
    return hist.Manifest(
        run_id=run_id,
        run_date="2026-11-25",
        protocol="baclofen",
        protocol_version="1",
        rule_set_version="3",
        inputs_digest=run_id * 4,
        input_hashes={},
        packages={},
        studies={"a_2001": "PMID:1"},
        ratings={"aud": {"label": "Alcohol use disorder", "level": level,
                         "reasons": f"pools say {level}"}},
        certainty={RR_KEY: "Moderate" if imprecision == "not serious" else "Low"},
        certainty_domains={RR_KEY: {"imprecision": f"{imprecision}: CI width {imprecision}",
                                    "risk_of_bias": "not serious: low risk"}},
        pooled={
            RR_KEY: {"label": "Alcohol use disorder, oral baclofen vs placebo: Abstinence",
                     "measure": "RR", "k": 3, "estimate": math.log(rr),
                     "ci_low": math.log(rr) - 0.2, "ci_high": math.log(rr) + 0.2},
            PLO_KEY: {"label": "Hiccups, oral baclofen (single group): Palliation",
                      "measure": "PLO", "k": 4, "estimate": math.log(plo / (1 - plo)),
                      "ci_low": math.log(plo / (1 - plo)) - 0.3,
                      "ci_high": math.log(plo / (1 - plo)) + 0.3},
        },
    )


def write_archive(processed: Path, m: hist.Manifest) -> None:
    folder = processed / "runs" / m.run_id
    folder.mkdir(parents=True)
    (folder / hist.MANIFEST).write_text(m.to_json(), encoding="utf-8")


def test_diff_prints_natural_scales_labels_and_reasons(tmp_path: Path) -> None:
    write_archive(tmp_path, manifest("0001-aaaa", 1.5, 0.35, "not serious", "Mixed"))
    write_archive(tmp_path, manifest("0002-bbbb", 2.0, 0.60, "serious", "Strong"))
    result = runner.invoke(app, ["diff", "0001-aaaa", "0002-bbbb", "--processed", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "|" not in out  # no pipe-joined keys
    assert ("Alcohol use disorder, oral baclofen vs placebo: Abstinence: "
            "RR 1.50 (1.23 to 1.83), k=3 → RR 2.00 (1.64 to 2.44), k=3") in out
    assert ("Hiccups, oral baclofen (single group): Palliation: proportion 35.0% "
            "(28.5% to 42.1%), k=4 → proportion 60.0% (52.6% to 66.9%), k=4") in out
    assert ("Alcohol use disorder: Mixed → Strong. Why: pools say Strong "
            "(before: pools say Mixed)") in out
    assert ("Abstinence: Moderate → Low. Why: imprecision not serious → serious "
            "(CI width serious)") in out
    assert "risk_of_bias" not in out  # a domain that did not move is not a reason


def test_diff_finds_runs_in_the_tracked_history(tmp_path: Path) -> None:
    """A fresh clone has no local archive: the history names the runs."""
    entries = hist.advance(manifest("x", 1.5, 0.35, "not serious", "Mixed"), []).entries
    entries = hist.advance(manifest("y", 2.0, 0.60, "serious", "Strong"), entries).entries
    (tmp_path / "baclofen").mkdir()
    (tmp_path / "baclofen" / hist.HISTORY).write_text(
        hist.history_json("baclofen", entries), encoding="utf-8"
    )
    a, b = (m.run_id for m in entries)
    result = runner.invoke(app, ["diff", a, b, "--processed", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "RR 1.50 (1.23 to 1.83), k=3 → RR 2.00" in result.output
    missing = runner.invoke(app, ["diff", a, "0009-none", "--processed", str(tmp_path)])
    assert missing.exit_code == 2 and "0009-none/manifest.json: no such run" in missing.output
