"""Every scale figure in one run: the PubMed store at a million records, serial vs parallel
protocols, the synthesis's start-up and run times, and the parser's time per MB.

Each part lives in `bench/scale/<part>.py` with a `run(quick)` returning (figure, value) rows and
can run alone (`python -m bench.scale.<part>`). A part that is missing or fails is printed as
such; the others still run. Not a test: timing goals live here.

Usage: python -m bench.scale_bench [--quick] [--only PART ...]
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback

PARTS = ("store", "protocols", "run", "parser")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, seconds per part")
    ap.add_argument("--only", nargs="*", choices=PARTS, default=list(PARTS))
    args = ap.parse_args()
    failed = []
    for part in args.only:
        print(f"\n## {part}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.scale.{part}")
            rows = module.run(quick=args.quick)
        except Exception:  # one part's failure must not hide the others' figures
            failed.append(part)
            traceback.print_exc()
            continue
        width = max((len(name) for name, _ in rows), default=0)
        for name, value in rows:
            print(f"{name:<{width}}  {value}", flush=True)
        print(f"({part}: {time.perf_counter() - started:.0f} s)", flush=True)
    if failed:
        raise SystemExit(f"parts that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
