"""A Dask worker's preload: every import a protocol's task needs, made as the worker starts.

Without it a worker imports Prefect, pandas, scipy, statsmodels and the figure renderer when its
first task arrives, after the cluster is up, while the flow waits. `task_runner_for` names this
module in the cluster's `preload`, so the imports happen once per worker as it starts.
"""

from __future__ import annotations

from typing import Any

from evidence.runs.warmpool import warm


def dask_setup(worker: Any) -> None:
    warm()
    import flows.synthesize  # noqa: F401  (Prefect and the tasks the flow sends)
