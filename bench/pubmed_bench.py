"""Benchmark of the PubMed layer (not a test). Run: .venv/bin/python bench/pubmed_bench.py

Figures, all measured locally against the stand-in E-utilities server of tests/pubmed:
- requests per 1,000 PMIDs fetched (POST batches of 200, and through the history server);
- request rate seen by the server when throttled (peak in any one-second window, and mean),
  without an API key (limit 3/s) and with one (10/s), from four threads sharing one limiter;
- parse throughput and peak memory of evidence.pubmed.parse against Bio.Entrez.read on the same
  10,000 synthetic records (real fixture articles repeated under new PMIDs), each measured in
  its own subprocess.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.parse_timing import entrez_counter, measure, run_child  # noqa: E402

EMAIL = "pubmed-bench@example.org"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def bench_requests() -> dict[str, Any]:
    """How many requests fetching 1,000 PMIDs takes."""
    from evidence.pubmed.client import ClientConfig, EutilsClient
    from evidence.pubmed.ratelimit import RateLimiter
    from tests.pubmed.eutils_server import StandIn

    out: dict[str, Any] = {}
    with StandIn() as server:
        pmids = server.state.add_clones(1000, 50_000_000)
        config = ClientConfig(base_url=server.url, email=EMAIL, rate=50.0)
        client = EutilsClient(config, limiter=RateLimiter(50.0))
        for mode, history in (("post_batches", False), ("history_server", True)):
            server.state.seen.clear()
            result = client.fetch(pmids, use_history=history)
            assert len(result.records) == 1000 and not result.missing
            out[mode] = len(server.state.requests())
    return out


def bench_throttle(api_key: str | None, requests: int, threads: int = 4) -> dict[str, Any]:
    """Rate at the server when several threads share the client's limiter."""
    from evidence.pubmed.client import ClientConfig, EutilsClient
    from evidence.pubmed.ratelimit import RateLimiter
    from tests.pubmed.eutils_server import StandIn

    with StandIn() as server:
        server.state.queries["baclofen"] = sorted(server.state.articles)
        config = ClientConfig(base_url=server.url, email=EMAIL, api_key=api_key)
        limit = config.effective_rate
        client = EutilsClient(config, limiter=RateLimiter(limit))

        def work(count: int) -> None:
            for _ in range(count):
                client.esearch("baclofen", usehistory=False)

        share = [requests // threads + (1 if i < requests % threads else 0) for i in range(threads)]
        workers = [threading.Thread(target=work, args=(n,)) for n in share]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        times = sorted(s.t for s in server.state.requests())
    mean = (len(times) - 1) / (times[-1] - times[0])
    peak = _max_in_window(times)
    return {
        "limit_per_s": limit,
        "requests": len(times),
        "peak_per_1s_window": peak,
        "mean_per_s": round(mean, 3),
        "mean_share_of_limit": round(mean / limit, 3),
        "never_above_limit": peak <= limit,
    }


def build_synthetic(path: Path, count: int) -> None:
    """`count` real fixture articles, repeated round-robin under new PMIDs, in one efetch file."""
    from tests.pubmed.eutils_server import clone_article, efetch_header, fixture_articles

    articles = fixture_articles()
    pool = [articles[k] for k in sorted(articles)]
    with path.open("wb") as out:
        out.write(efetch_header() + b"\n<PubmedArticleSet>\n")
        for i in range(count):
            out.write(clone_article(pool[i % len(pool)], str(60_000_000 + i)))
            out.write(b"\n")
        out.write(b"</PubmedArticleSet>\n")


def child(kind: str, mode: str, path: str) -> dict[str, Any]:
    """Parse `path` once in this process and report time or memory."""
    if kind == "entrez":
        run = entrez_counter(path)
    else:
        from evidence.pubmed.parse import iter_records

        def run() -> int:
            return sum(1 for _ in iter_records(path))

    return measure(run, memory=mode == "mem")


def _run_child(kind: str, mode: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, mode, str(path)]
    return run_child(cmd)


def bench_parse(count: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.xml"
        build_synthetic(path, count)
        size_mb = path.stat().st_size / 1e6
        ours = [_run_child("ours", "time", path) for _ in range(repeats)]
        ours_mem = _run_child("ours", "mem", path)
        _log("parser timed; now Bio.Entrez.read (slow)")
        entrez = [_run_child("entrez", "time", path) for _ in range(max(1, repeats - 1))]
        packed = Path(tmp) / "synthetic.xml.gz"
        with path.open("rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            dst.write(src.read())
        ours_gz = _run_child("ours", "time", packed)
    best = min(ours, key=lambda r: r["cpu_s"])
    best_entrez = min(entrez, key=lambda r: r["cpu_s"])
    assert best["records"] == best_entrez["records"] == count
    return {
        "records": count,
        "file_mb": round(size_mb, 1),
        "ours_cpu_s": round(best["cpu_s"], 3),
        "ours_wall_s": round(best["wall_s"], 3),
        "ours_records_per_s": round(count / best["cpu_s"]),
        "ours_gzip_cpu_s": round(ours_gz["cpu_s"], 3),
        "ours_tracemalloc_peak_mb": round(ours_mem["tracemalloc_peak_mb"], 2),
        "ours_maxrss_mb": round(best["maxrss_mb"], 1),
        "ours_maxrss_growth_mb": round(best["maxrss_growth_mb"], 1),
        "entrez_read_cpu_s": round(best_entrez["cpu_s"], 3),
        "entrez_read_wall_s": round(best_entrez["wall_s"], 3),
        "entrez_read_maxrss_mb": round(best_entrez["maxrss_mb"], 1),
        "entrez_read_maxrss_growth_mb": round(best_entrez["maxrss_growth_mb"], 1),
        "speedup_cpu": round(best_entrez["cpu_s"] / best["cpu_s"], 2),
        "speedup_wall": round(best_entrez["wall_s"] / best["wall_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "MODE", "FILE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    os.environ.pop("NCBI_API_KEY", None)
    figures: dict[str, Any] = {}
    _log("requests per 1,000 PMIDs")
    figures["requests_per_1000_pmids"] = bench_requests()
    _log("throttled rate, no key (3/s)")
    figures["throttle_no_key"] = bench_throttle(None, requests=30)
    _log("throttled rate, with a key (10/s)")
    figures["throttle_with_key"] = bench_throttle("bench-key", requests=60)
    _log(f"parsing {args.records} records")
    figures["parse"] = bench_parse(args.records, args.repeats)
    for name, value in figures.items():
        _log(f"{name}: {value}")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
