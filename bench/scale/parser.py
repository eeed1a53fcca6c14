"""Parser at scale (not a test). Run: .venv/bin/python -m bench.scale.parser [--quick]

Figures:
- time per MB for one record of 1, 10 and 100 MB (a real article whose abstract is made huge
  with many paragraphs, or whose author list is made huge): linear means a roughly constant
  time per MB; the same for the scanner this parser replaced (its last version in git), on the
  sizes it can finish;
- records per second on the benchmark file (real fixture articles repeated under new PMIDs, as
  bench/pubmed_bench.py builds it) for this parser, the old scanner and `Bio.Entrez.read`, with
  the ratios the issue asks for (>= 5x Entrez.read; the old scanner kept only if >= 1.5x);
- peak resident memory of each, for a small and a five times larger file (flat: about equal).

Each parse runs in its own subprocess, so imports and memory peaks do not carry over.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.parse_timing import entrez_counter, measure, run_child  # noqa: E402

# The last commit with the byte-level scanner; compared against, never used by the pipeline.
OLD_SCANNER_COMMIT = "3497ebe"
MB = 1_000_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- inputs


def _template() -> tuple[bytes, bytes]:
    """(efetch header, one real article with an abstract and an author list)."""
    from tests.pubmed.eutils_server import efetch_header, fixture_articles

    articles = fixture_articles()
    for pmid in sorted(articles):
        article = articles[pmid]
        if b"<AbstractText" in article and b"<AuthorList" in article:
            return efetch_header(), article
    raise RuntimeError("no fixture article has both an abstract and an author list")


def big_record(path: Path, size: int, kind: str = "abstract") -> int:
    """One PubmedArticle of about `size` bytes; returns how many paragraphs or authors it got.

    `abstract`: the abstract gets paragraphs of ~1 kB of words; `authors`: the author list gets
    authors of ~120 bytes each. Every piece is small, as in real records; only their number grows.
    """
    header, article = _template()
    if kind == "abstract":
        words = b"Baclofen reduced heavy drinking days in the treated group versus placebo. " * 13
        unit = b'<AbstractText Label="P%d" NlmCategory="RESULTS">' + words + b"</AbstractText>\n"
        anchor = b"</Abstract>"
    else:
        unit = (
            b'<Author ValidYN="Y"><LastName>Author%d</LastName><ForeName>Test</ForeName>'
            b"<Initials>T</Initials></Author>\n"
        )
        anchor = b"</AuthorList>"
    before, after = article.split(anchor, 1)
    room = max(0, size - len(header) - len(article))
    count = max(1, room // len(unit % 0))
    with path.open("wb") as out:
        out.write(header + b"\n<PubmedArticleSet>\n" + before)
        for i in range(count):
            out.write(unit % i)
        out.write(anchor + after + b"\n</PubmedArticleSet>\n")
    return count


def benchmark_file(path: Path, records: int) -> None:
    from bench.pubmed_bench import build_synthetic

    build_synthetic(path, records)


# ------------------------------------------------------------------------------- parsers


def _old_scanner() -> Any:
    """The scanner as it was at OLD_SCANNER_COMMIT, loaded from git (None if unavailable)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{OLD_SCANNER_COMMIT}:evidence/pubmed/parse.py"],
            capture_output=True,
            check=True,
            cwd=ROOT,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    target = Path(tempfile.mkdtemp()) / "old_scanner.py"
    target.write_bytes(source)
    spec = importlib.util.spec_from_file_location("old_scanner", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def child(kind: str, path: str, big: bool) -> dict[str, Any]:
    """Parse `path` once in this process: records, CPU and wall seconds, peak memory."""
    if kind == "entrez":
        run = entrez_counter(path)
    else:
        module: Any
        if kind == "old":
            module = _old_scanner()
            if module is None:
                return {"unavailable": True}
        else:
            import lxml.etree  # noqa: F401  (imported before the clock starts)

            from evidence.pubmed import parse as module
        limits = module.Limits(max_record=1 << 40, max_elements=1 << 40) if big else None

        def run() -> int:
            return sum(1 for _ in module.iter_records(path, limits=limits))

    return measure(run)


def _run_child(kind: str, path: Path, big: bool = False, timeout: float = 1800) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.scale.parser", "--child", kind, str(path)]
    if big:
        cmd.append("--big")
    return run_child(cmd, timeout)


# ------------------------------------------------------------------------------- figures


def _per_mb(result: dict[str, Any], size: float) -> str:
    if result.get("unavailable"):
        return "unavailable (no git history)"
    if "timeout_s" in result:
        return f"> {result['timeout_s']:.0f} s in all (stopped)"
    return (
        f"{result['cpu_s'] / size:.3f} s/MB ({result['cpu_s']:.2f} s CPU, "
        f"peak RSS {result['maxrss_mb']:.0f} MB)"
    )


def run(quick: bool = False) -> list[tuple[str, str]]:
    """(figure, value) rows; `quick` uses small sizes and finishes in seconds."""
    rows: list[tuple[str, str]] = []
    sizes = [MB // 4, MB] if quick else [MB, 10 * MB, 100 * MB]
    old_sizes = sizes if quick else sizes[:2]  # the old scanner takes minutes past ~20 MB
    small, large = (50, 150) if quick else (1000, 5000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in ("abstract", "authors"):
            for size in sizes:
                path = folder / f"{kind}-{size}.xml"
                pieces = big_record(path, size, kind)
                mb = path.stat().st_size / MB
                _log(f"one record of {mb:.1f} MB ({pieces:,} {kind} pieces)")
                ours = _run_child("new", path, big=True)
                label = f"parser, one {mb:.1f} MB record ({kind})"
                rows.append((label, _per_mb(ours, mb)))
                if size in old_sizes:
                    old = _run_child("old", path, big=True, timeout=600)
                    rows.append((f"old scanner, one {mb:.1f} MB record ({kind})", _per_mb(old, mb)))
                path.unlink()
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for count in (small, large):
            path = folder / f"bench-{count}.xml"
            benchmark_file(path, count)
            mb = path.stat().st_size / MB
            _log(f"benchmark file: {count:,} records, {mb:.0f} MB")
            kinds = ("new", "old", "entrez") if count == small or not quick else ("new",)
            results[str(count)] = {kind: _best(kind, path, 1 if quick else 3) for kind in kinds}
            for kind, result in results[str(count)].items():
                if result.get("unavailable"):
                    continue
                rows.append(
                    (
                        f"{_NAMES[kind]}, {count:,} records ({mb:.0f} MB)",
                        f"{count / result['cpu_s']:,.0f} records/s, {mb / result['cpu_s']:.1f} "
                        f"MB/s, peak RSS {result['maxrss_mb']:.0f} MB",
                    )
                )
            path.unlink()
        first = results[str(small)]
        new = first["new"]["cpu_s"]
        rows.append(("Entrez.read time / parser time", f"{first['entrez']['cpu_s'] / new:.2f}x"))
        if not first["old"].get("unavailable"):
            rows.append(("parser time / old scanner time", f"{new / first['old']['cpu_s']:.2f}x"))
        grow = results[str(large)]["new"]["maxrss_mb"] / first["new"]["maxrss_mb"]
        rows.append(
            (
                f"parser peak RSS, {large:,} vs {small:,} records",
                f"{results[str(large)]['new']['maxrss_mb']:.0f} vs "
                f"{first['new']['maxrss_mb']:.0f} MB ({grow:.2f}x)",
            )
        )
    return rows


_NAMES = {"new": "parser", "old": "old scanner", "entrez": "Bio.Entrez.read"}


def _best(kind: str, path: Path, repeats: int) -> dict[str, Any]:
    results = [_run_child(kind, path) for _ in range(repeats)]
    if any(r.get("unavailable") for r in results):
        return {"unavailable": True}
    return min(results, key=lambda r: float(r["cpu_s"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--big", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.big)))
        return
    for figure, value in run(quick=args.quick):
        print(f"{figure}: {value}")


if __name__ == "__main__":
    main()
