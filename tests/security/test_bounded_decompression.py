"""Compressed PubMed files may not expand without bound: `evidence import-pubmed` refuses a
compression bomb within its first megabytes, names the file and the limit, stores nothing and
leaves no temporary folder behind, however the import ends.

The time goal (refused in well under a second, whatever the bomb's size) lives in
bench/pubmed_hostile_bench.py; these tests only check what is refused and what is left.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.cache import STAGING_PREFIX, cached_pmids, staging_dir
from evidence.pubmed.parse import MIB, Limits, PubmedLimitError, parse_records
from tests.conftest import ROOT
from tests.pubmed import rawfacts as raw

GIB = 1 << 30
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n'
UNIT = (
    b'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">1</PMID>'
    b"<Article><ArticleTitle>Baclofen</ArticleTitle></Article></MedlineCitation></PubmedArticle>\n"
)


def write_bomb(path: Path, total: int, unit: bytes = UNIT) -> int:
    """A valid gzip file of HEAD and `unit` repeated to `total` bytes, written without ever
    holding more than 1 MiB: after a full flush deflate starts afresh, so every repeat of the
    block compresses to the same bytes and is written as they are. Returns the file's size."""
    block = unit * (MIB // len(unit))
    repeats = max(1, (total - len(HEAD)) // len(block))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(HEAD) + deflate.flush(zlib.Z_FULL_FLUSH)
    piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(HEAD)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first)
        for _ in range(repeats):
            out.write(piece)
            crc = zlib.crc32(block, crc)
        out.write(deflate.flush())
        size = len(HEAD) + repeats * len(block)
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return path.stat().st_size


def _state(folder: Path) -> dict[str, str]:
    """Every file under the cache, with its digest (staging folders included, if any)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _dirs(data: Path, tmp: Path) -> list[str]:
    return ["--data", str(data), "--processed", str(tmp / "p"), "--reports", str(tmp / "r")]


@pytest.fixture
def cache_with_a_record(data_copy: Path, tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        app, ["import-pubmed", str(raw.EFETCH[0]), *_dirs(data_copy, tmp_path)]
    )
    assert result.exit_code == 0, result.output
    return data_copy / "pubmed"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty system temp folder, to see whether anything is left in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_bomb_is_what_it_claims() -> None:
    """The builder makes real gzip: a small one decompresses to exactly what it says."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small.xml.gz"
        write_bomb(path, 3 * MIB)
        data = gzip.decompress(path.read_bytes())
    assert data.startswith(HEAD) and data.count(UNIT) == 3 * (MIB // len(UNIT))


def test_a_compression_bomb_is_refused_and_leaves_nothing(
    cache_with_a_record: Path, data_copy: Path, tmp_path: Path, private_tmp: Path
) -> None:
    bomb = tmp_path / "pubmed25n9999.xml.gz"
    packed = write_bomb(bomb, GIB)
    assert packed < 8 * MIB  # about 1 GiB of XML in a few megabytes
    before = _state(cache_with_a_record)

    result = CliRunner().invoke(app, ["import-pubmed", str(bomb), *_dirs(data_copy, tmp_path)])

    assert result.exit_code == 1
    assert str(bomb) in result.stderr and "compression bomb" in result.stderr
    assert "100 times its compressed size" in result.stderr and "--max-ratio" in result.stderr
    assert _state(cache_with_a_record) == before
    assert not list(staging_dir(cache_with_a_record).glob(f"{STAGING_PREFIX}*"))
    assert list(private_tmp.iterdir()) == []


def test_the_decompressed_size_limit_is_configurable_and_named(
    cache_with_a_record: Path, data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = raw.BASELINE  # the real 2016 baseline slice: 639 KiB, 3.7 MiB decompressed
    before = _state(cache_with_a_record)
    held = len(cached_pmids(cache_with_a_record))
    args = ["import-pubmed", str(baseline), *_dirs(data_copy, tmp_path)]

    small = CliRunner().invoke(app, [*args, "--max-decompressed", "1M"])
    assert small.exit_code == 1
    assert str(baseline) in small.stderr and "more than 1 MiB, the limit" in small.stderr
    monkeypatch.setenv("EVIDENCE_PUBMED_MAX_DECOMPRESSED", "2M")
    from_env = CliRunner().invoke(app, args)
    assert from_env.exit_code == 1 and "more than 2 MiB, the limit" in from_env.stderr
    assert _state(cache_with_a_record) == before
    assert not list(staging_dir(cache_with_a_record).glob(f"{STAGING_PREFIX}*"))

    bad = CliRunner().invoke(app, [*args, "--max-decompressed", "lots"])
    assert bad.exit_code == 2 and "--max-decompressed" in bad.stderr
    assert CliRunner().invoke(app, [*args, "--max-decompressed", "8M"]).exit_code == 0
    assert len(cached_pmids(cache_with_a_record)) > held


def test_real_pubmed_xml_is_far_below_the_ratio_limit() -> None:
    """The real baseline slice compresses 5.95 times (639 KiB -> 3.71 MiB): refused only when
    the ratio limit is set below that."""
    packed = raw.BASELINE.stat().st_size
    ratio = len(gzip.decompress(raw.BASELINE.read_bytes())) / packed
    assert 4 < ratio < 15 < Limits().max_ratio
    early = Limits(ratio_after=MIB, max_ratio=ratio - 1)
    with pytest.raises(PubmedLimitError, match=r"more than the limit of [\d.]+ times"):
        parse_records(raw.BASELINE, limits=early)
    assert len(parse_records(raw.BASELINE, limits=Limits(ratio_after=MIB, max_ratio=ratio + 1)))


def test_a_bomb_inside_an_efetch_answer_is_refused_for_good() -> None:
    """The client parses answers with the same limits; a gzip body is not retried."""
    from evidence.pubmed.client import EutilsError, _efetch_records

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answer.gz"
        write_bomb(path, 64 * MIB)
        body = path.read_bytes()
    with pytest.raises(EutilsError, match="compression bomb"):
        _efetch_records(body, "efetch response for 1 PMIDs")


def _open_for_writing(fifo: Path, reader: subprocess.Popen[bytes]) -> int:
    """The FIFO's write end, once `reader` has opened it (never blocks if the reader died)."""
    for _ in range(1200):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or reader.poll() is not None:
                raise AssertionError(f"the import never opened {fifo}") from exc
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd
    raise AssertionError(f"the import did not open {fifo} within a minute")


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and SIGTERM are POSIX")
def test_an_import_stopped_by_sigterm_removes_its_staging_folder(
    cache_with_a_record: Path, data_copy: Path, tmp_path: Path
) -> None:
    """A timeout or service stop sends SIGTERM: the import's clean-up still runs. The input is
    a FIFO fed half a file, so the import is certainly under way when the signal comes."""
    fifo = tmp_path / "slow.xml"
    os.mkfifo(fifo)
    before = _state(cache_with_a_record)
    staging = staging_dir(cache_with_a_record)
    code = "from evidence.cli import main; main()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "import-pubmed", str(fifo), *_dirs(data_copy, tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with os.fdopen(_open_for_writing(fifo, child), "wb") as writer:
            writer.write(raw.EFETCH[2].read_bytes()[:3000])
            writer.flush()
            assert list(staging.glob(f"{STAGING_PREFIX}*"))  # created before the file is read
            child.send_signal(signal.SIGTERM)
            _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 128 + signal.SIGTERM, err
    assert not list(staging.glob(f"{STAGING_PREFIX}*"))
    assert _state(cache_with_a_record) == before


@pytest.mark.skipif(os.name != "posix", reason="process ids are checked the POSIX way")
def test_a_staging_folder_left_by_a_killed_import_is_removed_by_the_next(
    cache_with_a_record: Path, data_copy: Path, tmp_path: Path
) -> None:
    folder = staging_dir(cache_with_a_record)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    abandoned = folder / f"{STAGING_PREFIX}{dead}-abcd1234"
    abandoned.mkdir()
    (abandoned / "12345.json").write_text("{}", encoding="utf-8")
    running = folder / f"{STAGING_PREFIX}{os.getpid()}-efgh5678"  # this process is alive
    running.mkdir()
    result = CliRunner().invoke(
        app, ["import-pubmed", str(raw.EFETCH[1]), *_dirs(data_copy, tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert not abandoned.exists() and running.is_dir()
