"""Input coercion shared by the meta-analysis modules.

Every public function accepts Python lists, numpy arrays and pandas Series, because statsmodels'
meta-analysis helpers fail on plain lists and callers should not have to care.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

FloatArray: TypeAlias = NDArray[np.float64]
ArrayLike: TypeAlias = Sequence[float] | NDArray[Any] | Any  # pandas Series included


def as_vector(values: ArrayLike, name: str) -> FloatArray:
    """A 1-D float64 copy of `values`; raise a clear error for anything that is not numeric."""
    if values is None:
        raise ValueError(f"{name} is required")
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def same_length(**arrays: FloatArray) -> int:
    """The common length of the named arrays, or a ValueError naming the mismatch."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{n}={n_}" for n, n_ in lengths.items())
        raise ValueError(f"inputs differ in length: {detail}")
    return next(iter(lengths.values()), 0)


def require_finite(name: str, arr: FloatArray) -> None:
    """NaN or infinite effect data would silently poison every sum; refuse them up front."""
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} has non-finite values at positions {bad.tolist()}")


def check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1 (0.95, not 95), as a float."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    return float(level)


def study_labels(studies: ArrayLike | None, k: int) -> tuple[str, ...]:
    """Study labels as strings; default to 1..k like metafor's slab."""
    if studies is None:
        return tuple(str(i + 1) for i in range(k))
    if hasattr(studies, "tolist"):
        studies = studies.tolist()
    labels = tuple(str(s) for s in studies)
    if len(labels) != k:
        raise ValueError(f"studies has {len(labels)} labels for {k} studies")
    return labels


def r_mad(x: FloatArray) -> float:
    """R's mad(): the scaled median absolute deviation (metafor uses it to size tau^2 brackets)."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def design_matrix(
    k: int, mods: ArrayLike | None, names: Sequence[str] | None = None
) -> tuple[FloatArray, tuple[str, ...]]:
    """An intercept column plus the moderators (1-D: one moderator; 2-D: one per column).

    Names follow metafor: "intrcpt" and then `names`, or mod1, mod2, ... when none are given.
    """
    if mods is None:
        return np.ones((k, 1)), ("intrcpt",)
    if hasattr(mods, "to_numpy"):
        mods = mods.to_numpy()
    try:
        m = np.array(mods, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"mods must be numeric: {exc}") from None
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.shape[0] != k:
        raise ValueError(f"mods must have one row per study ({k}), got shape {m.shape}")
    bad = np.argwhere(~np.isfinite(m))
    if bad.size:
        raise ValueError(f"mods has non-finite values at (row, column) {bad[:5].tolist()}")
    if names is None:
        names = [f"mod{j + 1}" for j in range(m.shape[1])]
    names = tuple(str(n) for n in names)
    if len(names) != m.shape[1]:
        raise ValueError(f"{len(names)} moderator names for {m.shape[1]} moderator columns")
    return np.column_stack([np.ones(k), m]), ("intrcpt", *names)


def json_safe(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """`value` with every NaN or infinite float replaced by None, and the paths replaced.

    JSON has no NaN or Infinity (Python's json writes them anyway, producing text other
    parsers reject), so every serialised result goes through here. Tuples become lists.
    """
    if isinstance(value, float | np.floating):
        x = float(value)
        return (x, []) if math.isfinite(x) else (None, [f"{path or 'value'} ({x})"])
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        replaced: list[str] = []
        for key, item in value.items():
            out[key], sub = json_safe(item, f"{path}.{key}" if path else str(key))
            replaced += sub
        return out, replaced
    if isinstance(value, list | tuple):
        items: list[Any] = []
        replaced = []
        for i, item in enumerate(value):
            safe, sub = json_safe(item, f"{path}[{i}]")
            items.append(safe)
            replaced += sub
        return (tuple(items) if isinstance(value, tuple) else items), replaced
    if isinstance(value, np.integer):
        return int(value), []
    if isinstance(value, np.bool_):
        return bool(value), []
    return value, []


def null_notes(replaced: list[str]) -> list[str]:
    """One note per field that was not a finite number and is reported as null."""
    return [f"{field}: not a finite number, reported as null" for field in replaced]
