"""Where a `run --no-orchestrator` spends its time: each step of the synthesis timed in one
fresh process, wall and CPU seconds. Not a test: timing goals live in bench/.

The steps are those `evidence.pipeline.synthesize` runs, in its order: `import` (the CLI and the
pipeline's modules, as `evidence run` imports them), `load` (inputs and run context), `tabulate`,
`pool`, `rate`, `report` (every table and the report in memory, figures from the cache when
warm) and `write` (publishing the three folders).

Usage: python -m bench.scale.stages --data D --processed P --reports R   (prints JSON)
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

STEPS = ("import", "load", "tabulate", "pool", "rate", "report", "write")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(steps: dict[str, tuple[float, float]], name: str, fn: Callable[[], Any]) -> Any:
    """`fn()`, its wall and CPU seconds recorded under `name`."""
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    steps[name] = (time.perf_counter() - wall, _cpu() - cpu)
    return out


def stages(data: Path, processed: Path, reports: Path) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds of each step of one synthesis of the bundled protocol."""
    steps: dict[str, tuple[float, float]] = {}

    def imports() -> Any:
        import evidence.cli  # noqa: F401  (what `evidence run` imports before it runs)
        from evidence import pipeline

        return pipeline

    p = timed(steps, "import", imports)
    from evidence.runs.workspace import Workspace

    ws = Workspace(data=data, processed=processed, reports=reports)
    snapshot, ctx = timed(steps, "load", lambda: (s := p.load(ws, None), p.load_context(ws, s)))
    tab = timed(steps, "tabulate", lambda: p.tabulate(snapshot))
    analyses = timed(steps, "pool", lambda: p.pool(snapshot, tab))
    rules = ws.data / snapshot.protocol.rating.rule_set
    ratings = timed(steps, "rate", lambda: p.rate(snapshot, tab, analyses, rules))
    cache = p.figure_cache_folder(ws)
    out = timed(steps, "report", lambda: p.report(snapshot, tab, analyses, ratings, ctx, cache))
    timed(steps, "write", lambda: p.write_outputs(ws, out))
    return steps


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--data", "--processed", "--reports"):
        ap.add_argument(name, type=Path, required=True)
    args = ap.parse_args(argv)
    steps = stages(args.data, args.processed, args.reports)
    print(json.dumps({k: [round(w, 3), round(c, 3)] for k, (w, c) in steps.items()}))


if __name__ == "__main__":
    main()
