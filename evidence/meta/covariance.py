"""Sampling covariance of dependent effect sizes, kept block by block (metafor's vcalc/bldiag).

A trial with several treatment arms compared with one control arm gives effect sizes that share
the control arm's sampling error. `shared_control_covariance` builds that covariance, so such a
trial enters `rma_mv` once, with the correct dependence, instead of having its control split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evidence.meta._util import FloatArray, as_vector, require_finite, same_length

SHARED_CONTROL_MEASURES = ("MD", "OR", "RD", "RR", "SMD")


@dataclass(frozen=True)
class BlockCovariance:
    """A k x k covariance stored as square blocks over (not necessarily adjacent) rows.

    `rows[j]` are the row indices of `blocks[j]`; every row is in exactly one block and rows in
    different blocks are uncorrelated. Memory is the sum of the squared block sizes.
    """

    k: int
    rows: tuple[tuple[int, ...], ...]
    blocks: tuple[FloatArray, ...]
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen = sorted(r for rows in self.rows for r in rows)
        if seen != list(range(self.k)):
            raise ValueError("BlockCovariance: blocks must cover rows 0..k-1 exactly once")
        for rows, block in zip(self.rows, self.blocks, strict=True):
            if block.shape != (len(rows), len(rows)):
                raise ValueError(
                    f"BlockCovariance: block for rows {list(rows)} has shape {block.shape}"
                )

    def to_dense(self) -> FloatArray:
        """The full matrix (for small k: inspection, tests, other software)."""
        out = np.zeros((self.k, self.k))
        for rows, block in zip(self.rows, self.blocks, strict=True):
            out[np.ix_(rows, rows)] = block
        return out


def _groups(study: Sequence[Any]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(study):
        groups.setdefault(str(s), []).append(i)
    return groups


def _constant(name: str, values: FloatArray, rows: list[int], label: str) -> float:
    first = float(values[rows[0]])
    if any(not math.isclose(float(values[r]), first, rel_tol=1e-12) for r in rows):
        raise ValueError(
            f"study {label!r}: {name} differs between its rows {rows}; arms compared with "
            "one shared control must carry the same control data"
        )
    return first


def shared_control_covariance(
    measure: str,
    study: Sequence[Any],
    yi: Any,
    vi: Any,
    *,
    n_ctrl: Any,
    events_ctrl: Any = None,
    sd_ctrl: Any = None,
    n_treat: Any = None,
) -> BlockCovariance:
    """Covariance of treatment-vs-shared-control effect sizes, one block per study.

    Rows of the same study are treatment arms compared with one control arm; the diagonal is
    `vi`, and the covariance of two arms is the sampling variance of the control arm's part:
    MD: sd_c^2/n_c; log RR: 1/c - 1/n_c; log OR: 1/c + 1/(n_c - c); RD: p_c(1 - p_c)/n_c;
    SMD (Gleser & Olkin, as in metafor's analysis example): 1/n_c + d_i d_j / (2 N) with N the
    study's total sample size (control plus all treatment arms; needs `n_treat`). The SMD
    formula assumes all d share one standardiser; with escalc's per-comparison Hedges' g it is
    the usual approximation. Control data are the raw counts; zero control events make the
    log RR/OR covariance undefined and raise.
    """
    measure = measure.upper()
    if measure not in SHARED_CONTROL_MEASURES:
        raise ValueError(f"unknown measure {measure!r}; expected one of {SHARED_CONTROL_MEASURES}")
    y = as_vector(yi, "yi")
    v = as_vector(vi, "vi")
    n_c = as_vector(n_ctrl, "n_ctrl")
    labels = [str(s) for s in (study.tolist() if hasattr(study, "tolist") else study)]
    arrays: dict[str, FloatArray] = {"yi": y, "vi": v, "n_ctrl": n_c}
    needs = {
        "OR": "events_ctrl",
        "RR": "events_ctrl",
        "RD": "events_ctrl",
        "MD": "sd_ctrl",
        "SMD": "n_treat",
    }
    given = {"events_ctrl": events_ctrl, "sd_ctrl": sd_ctrl, "n_treat": n_treat}
    need = needs[measure]
    if given[need] is None:
        raise ValueError(f"measure {measure} needs {need}")
    arrays[need] = as_vector(given[need], need)
    k = same_length(study=np.zeros(len(labels)), **arrays)
    for name, arr in arrays.items():
        require_finite(name, arr)
    if (v <= 0).any():
        raise ValueError(f"vi must be positive (rows {np.flatnonzero(v <= 0).tolist()})")
    if (n_c <= 0).any():
        raise ValueError(f"n_ctrl must be positive (rows {np.flatnonzero(n_c <= 0).tolist()})")
    rows_out: list[tuple[int, ...]] = []
    blocks: list[FloatArray] = []
    names: list[str] = []
    for label, rows in _groups(labels).items():
        nc = _constant("n_ctrl", n_c, rows, label)
        if measure == "SMD":
            n_t = arrays["n_treat"][rows]
            total = nc + float(n_t.sum())
            d = y[rows]
            block = 1 / nc + np.outer(d, d) / (2 * total)
        else:
            if measure == "MD":
                part = _constant("sd_ctrl", arrays["sd_ctrl"], rows, label) ** 2 / nc
            else:
                c = _constant("events_ctrl", arrays["events_ctrl"], rows, label)
                if not 0 <= c <= nc:
                    raise ValueError(f"study {label!r}: events_ctrl {c} outside 0..n_ctrl {nc}")
                if measure == "RD":
                    part = (c / nc) * (1 - c / nc) / nc
                elif c == 0 or (measure == "OR" and c == nc):
                    raise ValueError(
                        f"study {label!r}: {int(c)} of {int(nc)} control events; the log "
                        f"{measure} covariance through the shared control is undefined"
                    )
                elif measure == "RR":
                    part = 1 / c - 1 / nc
                else:
                    part = 1 / c + 1 / (nc - c)
            block = np.full((len(rows), len(rows)), part)
        np.fill_diagonal(block, v[rows])
        if len(rows) > 1 and np.linalg.eigvalsh(block).min() <= 0:
            raise ValueError(
                f"study {label!r}: the covariance of its arms is not positive definite; "
                "check vi and the control data"
            )
        rows_out.append(tuple(rows))
        blocks.append(block)
        names.append(label)
    return BlockCovariance(k=k, rows=tuple(rows_out), blocks=tuple(blocks), labels=tuple(names))
