"""Influence diagnostics and Baujat coordinates against metafor's influence() and baujat()."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.meta import baujat, influence
from evidence.meta.diagnostics import hat_values
from tests.meta.reference import assert_all_close, case_id
from tests.meta.reference_heterogeneity import CONTROL, data, load, mods_of, yi_vi_csv

INFLUENCE = load()["influence"]
BAUJAT = load()["baujat"]
IDS = ["-".join(str(r[k]) for k in ("dataset", "method", "test", "mods")) for r in INFLUENCE]
COLUMNS = {
    "rstudent": "rstudent",
    "dffits": "dffits",
    "cook_d": "cook_d",
    "cov_r": "cov_r",
    "tau2_del": "tau2_del",
    "qe_del": "QE_del",
    "hat": "hat",
    "weight": "weight",
}


def _fit(rec: dict[str, Any], fn: Any = influence) -> Any:
    d = data(rec["dataset"])
    return fn(
        d["yi"], d["vi"], studies=d["study"], method=rec["method"], test=rec["test"],
        control=CONTROL, **mods_of(rec),
    )  # fmt: skip


def _names(rec: dict[str, Any]) -> list[str]:
    names = rec["dfbs_names"]
    return names if isinstance(names, list) else [names]


@pytest.mark.parametrize("rec", INFLUENCE, ids=IDS)
def test_influence_matches_metafor(rec: dict[str, Any]) -> None:
    res = _fit(rec)
    what = case_id(rec, "dataset", "method", "test")
    for ours, theirs in COLUMNS.items():
        assert_all_close(getattr(res, ours), rec[theirs], f"{what} {ours}")
    assert list(res.coefficients) == _names(rec)
    for j, name in enumerate(_names(rec)):
        assert_all_close([row[j] for row in res.dfbetas], rec["dfbs"][name], f"{what} {name}")
    assert list(res.influential) == rec["inf"]


@pytest.mark.parametrize("rec", BAUJAT, ids=IDS)
def test_baujat_coordinates_match_metafor(rec: dict[str, Any]) -> None:
    pts = _fit(rec, baujat)
    assert_all_close(pts.x, rec["x"], "x")
    assert_all_close(pts.y, rec["y"], "y")
    assert pts.studies == tuple(data(rec["dataset"])["study"])


def test_influential_studies_of_the_fixed_effect_bcg_model() -> None:
    rec = next(r for r in INFLUENCE if r["dataset"] == "bcg" and r["method"] == "FE")
    res = _fit(rec)
    flagged = [s for s, f in zip(res.studies, res.influential, strict=True) if f]
    assert flagged and len(flagged) == sum(rec["inf"])
    assert math.isclose(res.dffits_cutoff, 3 * math.sqrt(1 / 12)) and res.hat_cutoff == 3 / 13


def test_hat_values_by_formula_equal_the_hat_matrix_diagonal() -> None:
    d = data("bcg")
    v = np.asarray(d["vi"])
    x = np.column_stack([np.ones(len(v)), d["ablat"]])
    tau2 = 0.08
    w = 1 / (v + tau2)
    hat_matrix = x @ np.linalg.inv(x.T @ (x * w[:, None])) @ (x * w[:, None]).T
    assert np.allclose(hat_values(v, x, tau2), np.diag(hat_matrix), rtol=1e-12, atol=0)
    one = hat_values(v, np.ones((len(v), 1)), tau2)
    assert np.allclose(one, w / w.sum(), rtol=1e-12, atol=0)


def test_a_failed_refit_gives_none_and_a_note_and_stays_json_safe() -> None:
    # The moderator is non-zero in one study only: without it the design is singular.
    y = [0.1, 0.4, -0.2, 0.3, 0.05, 0.2]
    v = [0.02, 0.03, 0.04, 0.02, 0.05, 0.03]
    dummy = [1, 0, 0, 0, 0, 0]
    res = influence(y, v, mods=dummy, mod_names=["dummy"], method="DL")
    assert res.rstudent[0] is None and res.dfbetas[0] == (None, None)
    assert res.rstudent[1] is not None
    assert "fit without this study failed" in res.notes[0]
    json.dumps(res.to_dict(), allow_nan=False)
    frame = res.to_frame()
    assert len(frame) == 6 and {"dfbetas_intrcpt", "dfbetas_dummy", "influential"} <= set(frame)


def test_too_few_studies_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 studies"):
        influence([0.1], [0.01])


def test_cli_also_influence(tmp_path: Path) -> None:
    rec = next(r for r in INFLUENCE if r["dataset"] == "bcg" and r["method"] == "REML"
               and r["test"] == "knha" and r["mods"] is None)  # fmt: skip
    path = yi_vi_csv(tmp_path / "bcg.csv", "bcg")
    result = CliRunner().invoke(
        app, ["meta", "--input", str(path), "--measure", "GEN", "--method", "REML",
              "--test", "knha", "--also", "influence"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)["influence"]
    rows = out["rows"]
    assert [r["study"] for r in rows] == data("bcg")["study"]
    assert_all_close([r["rstudent"] for r in rows], rec["rstudent"], "rstudent")
    assert_all_close([r["cook_d"] for r in rows], rec["cook_d"], "cook_d")
    assert [r["influential"] for r in rows] == rec["inf"]
