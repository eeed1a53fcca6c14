"""Command-line entry point. Each command module registers itself on `app`."""

from __future__ import annotations

from evidence.cli import (  # noqa: F401  (register commands)
    data_cmds,
    extract_cmds,
    flow_cmds,
    meta_cmd,
    pubmed_cmds,
    report_cmd,
    screen_cmd,
)
from evidence.cli.app import app, run_app

__all__ = ["app", "main"]


def main() -> None:
    run_app()
