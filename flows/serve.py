"""Serve the nightly refresh as a scheduled deployment against a Prefect server."""

from __future__ import annotations

import os

from prefect.schedules import Cron

from flows.nightly import nightly_refresh

DEPLOYMENT = "nightly"  # prefect.yaml's deployments have other names: `prefect deploy --all`
# must never replace this one (docs/operations.md)
CONCURRENCY_LIMIT = 1  # one nightly at a time: two would search, queue and write the same files


def serve(
    cron: str = "0 2 * * *",
    timezone: str = "UTC",
    name: str = DEPLOYMENT,
    protocols: list[str] | None = None,
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    live: bool = True,
) -> None:
    """Register the deployment with its cron schedule and run its flow runs until stopped.

    Schedules need a real server (`prefect server start`, then PREFECT_API_URL): Prefect's
    temporary server does not schedule.
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise RuntimeError(
            "PREFECT_API_URL is not set: start a server with `prefect server start` and export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (Prefect's temporary server cannot "
            "schedule runs)"
        )
    nightly_refresh.serve(
        name=name,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={
            "protocols": protocols,
            "data": data,
            "processed": processed,
            "reports": reports,
            "live": live,
        },
        description="Nightly living-evidence refresh: search PubMed, queue, resynthesise.",
        pause_on_shutdown=False,
        global_limit=CONCURRENCY_LIMIT,  # the deployment's concurrency_limit, on the server
        limit=CONCURRENCY_LIMIT,  # and this runner's own
    )
