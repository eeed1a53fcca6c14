"""Access to the metafor values written by tests/metafor/make_reference_heterogeneity.R."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

from evidence.meta import Tau2Control

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "metafor" / "heterogeneity.json"
# The reference was written with these (metafor: REML threshold 1e-12, maxiter 1000).
CONTROL = Tau2Control(reml_threshold=1e-12, reml_maxiter=1000)


@cache
def load() -> dict[str, Any]:
    with REFERENCE.open(encoding="utf-8") as fh:
        return json.load(fh)


def data(name: str) -> dict[str, list[Any]]:
    return load()["datasets"][name]


def mods_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The moderator keyword arguments of a record (none for intercept-only models)."""
    if rec.get("mods") is None:
        return {}
    return {"mods": data(rec["dataset"])[rec["mods"]], "mod_names": [rec["mods"]]}


def yi_vi_csv(path: Path, name: str) -> Path:
    """The data set as a `study, yi, vi` CSV for `evidence meta --measure GEN`."""
    d = data(name)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["study", "yi", "vi"])
        writer.writerows(zip(d["study"], d["yi"], d["vi"], strict=True))
    return path
