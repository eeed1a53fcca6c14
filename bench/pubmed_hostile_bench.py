"""Benchmark of hostile PubMed inputs (not a test).

Run: .venv/bin/python bench/pubmed_hostile_bench.py [--old OTHER_CHECKOUT]

Goal: every hostile input below is refused within 5 s of wall time and 200 MB of peak memory
(the whole process), whatever its size, and `evidence import-pubmed` leaves no staging folder.
Each input is a gzip file built by streaming (identical deflate blocks after a full flush), so
a 1 GiB bomb costs a few MB of disk; each parse runs in its own subprocess so its peak memory
(VmHWM) is its own.

The shapes are those that used to be slow or large: one huge abstract (a 137 KB .gz of this
shape took the parser 89 s and 437 MB before, and was accepted), long runs of text, a huge
attribute, deep nesting, masses of empty elements, a record of endless elements, repeated XML
compressed 290:1, and a billion-laughs prolog. Each is parsed twice: with the default limits
(most are stopped first by the ratio limit) and with the ratio limit off, to show that the
structural limits alone also stop each one (except the repeated records, which are valid XML:
only the ratio or size limit can stop those).
`--old PATH` also runs each one against another checkout's `evidence` (e.g. one made with
`git worktree add /tmp/before HEAD~2`), with a timeout, to show the difference.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n'
RECORD = b'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">7</PMID>'
ABSTRACT = HEAD + RECORD + b"<Article><Abstract><AbstractText>"
GOAL_SECONDS = 5.0
GOAL_MB = 200.0


def write_gz(path: Path, head: bytes, unit: bytes, total: int, tail: bytes = b"") -> int:
    """gzip of head + unit repeated to `total` bytes + tail, never holding more than 1 MiB."""
    block = unit * max(1, MIB // len(unit))
    repeats = max(1, total // len(block))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = zlib.crc32(head)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        out.write(deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH))
        piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        for _ in range(repeats):
            out.write(piece)
            crc = zlib.crc32(block, crc)
        out.write(deflate.compress(tail) + deflate.flush())
        crc = zlib.crc32(tail, crc)
        size = len(head) + repeats * len(block) + len(tail)
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return path.stat().st_size


def laughs() -> bytes:
    entities = b"".join(
        b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10) for i in range(1, 10)
    )
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY l0 "lol">'
        + entities
        + b"]>\n<PubmedArticleSet>"
        + RECORD
        + b"<Article><ArticleTitle>&l9;</ArticleTitle></Article>"
        + b"</MedlineCitation></PubmedArticle></PubmedArticleSet>\n"
    )


def build(folder: Path) -> dict[str, Path]:
    """The hostile inputs: name -> gzip file."""
    cases = {
        "text_run_1gib": (HEAD, b"a", 1 << 30),
        "abstract_133kb_gz": (ABSTRACT, b"a", 135 * MIB),
        "attribute_1gib": (HEAD + b'<x a="', b"a", 1 << 30),
        "deep_nesting_1gib": (HEAD, b"<a>", 1 << 30),
        "empty_elements_1gib": (HEAD, b"<a/>", 1 << 30),
        "record_of_elements_1gib": (HEAD + RECORD, b"<a/>", 1 << 30),
        "repeated_records_1gib": (
            HEAD,
            RECORD + b"<Article><ArticleTitle>Baclofen</ArticleTitle></Article>"
            b"</MedlineCitation></PubmedArticle>\n",
            1 << 30,
        ),
    }
    out = {}
    for name, (head, unit, total) in cases.items():
        out[name] = folder / f"{name}.xml.gz"
        write_gz(out[name], head, unit, total)
    out["billion_laughs"] = folder / "billion_laughs.xml"
    out["billion_laughs"].write_bytes(laughs())
    return out


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from evidence.pubmed.parse import iter_records
kwargs = {}
if sys.argv[3] != "default":
    from evidence.pubmed.parse import Limits
    kwargs["limits"] = Limits(max_ratio=float(sys.argv[3]))
start = time.perf_counter()
try:
    outcome = "parsed %d records" % sum(1 for _ in iter_records(sys.argv[2], **kwargs))
except Exception as exc:
    outcome = "%s: %s" % (type(exc).__name__, str(exc)[len(sys.argv[2]) + 2 :][:110])
seconds = time.perf_counter() - start
peak = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1]) / 1024
print(json.dumps({"seconds": round(seconds, 3), "peak_mb": round(peak, 1), "outcome": outcome}))
"""


def parse_in_child(
    tree: Path, path: Path, timeout: float, max_ratio: str = "default"
) -> dict[str, Any]:
    cmd = [sys.executable, "-c", CHILD, str(tree), str(path), max_ratio]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"seconds": round(time.perf_counter() - start, 1), "outcome": "timed out"}
    if done.returncode != 0:
        return {"outcome": f"exit {done.returncode}: {done.stderr.strip()[-200:]}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def import_bomb(path: Path) -> dict[str, Any]:
    """`evidence import-pubmed` on a bomb: its time, exit code, and what it left in the cache."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        cmd = [
            sys.executable,
            "-c",
            "from evidence.cli import main; main()",
            "import-pubmed",
            str(path),
            "--data",
            str(data),
            "--processed",
            str(Path(tmp) / "p"),
            "--reports",
            str(Path(tmp) / "r"),
        ]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
        seconds = time.perf_counter() - start
        files = [str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()]
        staging = [str(p.relative_to(data)) for p in data.rglob(".import-*")]
    return {
        "seconds_including_startup": round(seconds, 2),
        "exit_code": done.returncode,
        "message": done.stderr.strip().splitlines()[0][:160] if done.stderr.strip() else "",
        "files_left_in_cache": files,
        "staging_folders_left": staging,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="another checkout to compare with")
    parser.add_argument("--old-timeout", type=float, default=150.0)
    args = parser.parse_args()
    figures: dict[str, Any] = {"goal": {"seconds": GOAL_SECONDS, "peak_mb": GOAL_MB}}
    with tempfile.TemporaryDirectory() as tmp:
        files = build(Path(tmp))
        figures["compressed_bytes"] = {k: os.path.getsize(p) for k, p in files.items()}
        results: dict[str, Any] = {}
        for name, path in files.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            result = parse_in_child(ROOT, path, timeout=60)
            runs = [result]
            if name != "repeated_records_1gib":
                result["ratio_limit_off"] = parse_in_child(ROOT, path, 60, max_ratio="1e12")
                runs.append(result["ratio_limit_off"])
            result["within_goal"] = all(
                r.get("seconds", 1e9) <= GOAL_SECONDS
                and r.get("peak_mb", 1e9) <= GOAL_MB
                and "Limit" in r.get("outcome", "")
                for r in runs
            )
            if args.old:
                result["old"] = parse_in_child(args.old, path, timeout=args.old_timeout)
            results[name] = result
        figures["parse"] = results
        figures["import_pubmed_1gib_bomb"] = import_bomb(files["repeated_records_1gib"])
    bomb = figures["import_pubmed_1gib_bomb"]
    figures["all_within_goal"] = (
        all(r["within_goal"] for r in results.values())
        and bomb["exit_code"] == 1
        and not bomb["files_left_in_cache"]
        and not bomb["staging_folders_left"]
    )
    for name, value in figures.items():
        print(f"{name}: {value}", file=sys.stderr)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
