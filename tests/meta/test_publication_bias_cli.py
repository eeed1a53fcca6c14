"""`evidence meta --also` regtest, peters, harbord, ranktest and trimfill against metafor."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from tests.meta.reference import assert_close
from tests.meta.test_publication_bias import HARBORD, RANKTEST, REGTEST, TRIMFILL, data

BINARY = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
runner = CliRunner()


def write_csv(tmp_path: Path, name: str, rows: int | None = None) -> Path:
    d = data(name)
    cols = BINARY if "events_treat" in d else ("yi", "vi")
    header = ["study", *cols]
    body = list(zip(*(d[c] for c in header), strict=True))[:rows]
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)
    return path


def run(path: Path, measure: str, *args: str) -> Any:
    return runner.invoke(app, ["meta", "--input", str(path), "--measure", measure, *args])


def run_json(path: Path, measure: str, *args: str) -> dict[str, Any]:
    result = run(path, measure, *args)
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.output)
    return out


def pick(rows: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    return next(r for r in rows if all(r.get(k) == v for k, v in keys.items()))


def test_also_regtest_gives_both_of_metafors_models(tmp_path: Path) -> None:
    out = run_json(write_csv(tmp_path, "egger2001"), "OR", "--also", "regtest")["regtest"]
    for model in ("rma", "lm"):
        rec = pick(REGTEST, dataset="egger2001", model=model, predictor="sei", method="REML")
        got = out[model]
        assert got["assessed"] is True and got["predictor"] == "sei"
        assert_close(got["stat"], rec["zval"], f"{model} stat")
        assert_close(got["pval"], rec["pval"], f"{model} pval")
        assert_close(got["limit_estimate"], rec["est"], f"{model} limit estimate")


def test_also_peters_takes_n_from_the_tables(tmp_path: Path) -> None:
    out = run_json(write_csv(tmp_path, "bcg"), "RR", "--also", "peters")["peters"]
    rec = pick(REGTEST, dataset="bcg", model="lm", predictor="ninv")
    assert out["assessed"] is True and out["predictor"] == "ninv" and out["model"] == "lm"
    assert_close(out["stat"], rec["zval"], "stat")
    assert_close(out["pval"], rec["pval"], "pval")


def test_also_harbord_uses_the_2x2_tables(tmp_path: Path) -> None:
    out = run_json(write_csv(tmp_path, "bcg"), "RR", "--also", "harbord")["harbord"]
    rec = pick(HARBORD, dataset="bcg")
    assert out["assessed"] is True
    assert_close(out["stat"], rec["tval"], "t")
    assert_close(out["pval"], rec["pval"], "pval")
    assert any("log odds ratio's score" in n for n in out["notes"])


def test_also_ranktest(tmp_path: Path) -> None:
    out = run_json(write_csv(tmp_path, "hackshaw1998"), "GEN", "--also", "ranktest")
    rec = pick(RANKTEST, dataset="hackshaw1998", exact=True)
    assert out["ranktest"]["assessed"] is True
    assert_close(out["ranktest"]["tau"], rec["tau"], "tau")
    assert_close(out["ranktest"]["pval"], rec["pval"], "pval")


def test_also_trimfill(tmp_path: Path) -> None:
    out = run_json(
        write_csv(tmp_path, "hackshaw1998"), "GEN", "--method", "DL", "--also", "trimfill"
    )["trimfill"]
    rec = pick(TRIMFILL, dataset="hackshaw1998", method="DL", estimator="L0", side_given=None)
    assert out["assessed"] is True
    assert (out["k0"], out["side"]) == (rec["k0"], rec["side"])
    assert out["filled"] == rec["fill"]
    assert_close(out["pooled"]["estimate"], rec["estimate"], "estimate")
    assert_close(out["pooled"]["ci_low"], rec["ci_lb"], "ci_low")


def test_also_trimfill_after_mantel_haenszel_uses_the_fixed_effect_model(tmp_path: Path) -> None:
    out = run_json(write_csv(tmp_path, "bcg"), "RR", "--method", "MH", "--also", "trimfill")
    rec = pick(TRIMFILL, dataset="bcg", method="FE", estimator="L0", side_given=None)
    tf = out["trimfill"]
    assert tf["k0"] == rec["k0"] and tf["pooled"]["method"] == "FE"
    assert any("Mantel-Haenszel" in n for n in tf["notes"])


@pytest.mark.parametrize("name", ["regtest", "peters", "harbord", "ranktest", "trimfill"])
def test_also_on_too_few_studies_is_not_assessed(tmp_path: Path, name: str) -> None:
    out = run_json(write_csv(tmp_path, "bcg", rows=8), "RR", "--also", name)[name]
    for got in (out["rma"], out["lm"]) if name == "regtest" else (out,):
        assert got == {"assessed": False, "reason": got["reason"]}
        assert got["reason"].startswith("k = 8 < 10 studies")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("harbord", "--also harbord needs 2x2 tables (measures RR, OR, RD); measure GEN"),
        ("peters", "--also peters needs each study's total sample size"),
    ],
)
def test_also_refuses_tests_whose_data_the_measure_lacks(
    tmp_path: Path, name: str, why: str
) -> None:
    result = run(write_csv(tmp_path, "hackshaw1998"), "GEN", "--also", name)
    assert result.exit_code == 1
    assert why in result.output
