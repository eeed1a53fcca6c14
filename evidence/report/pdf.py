"""The report as PDF, printed by headless Chromium (the browser the tests use), because review
panels circulate PDFs.

Two prints of the same page by the same Chromium build differ in two things only: the PDF's
creation and modification dates, which `fixed_dates` sets to the report's date (the date of its
data, the page's `dcterms.date`), and the ids of the tagged PDF's structure elements,
`(nodeNNNNNNNN)` from the page's DOM node counter, which can be offset between two loads;
`fixed_node_ids` renumbers them by rank. Both rewrite bytes in place at the same length, so every
cross-reference offset stays valid, and the same report printed twice gives the same bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_ENV = "EVIDENCE_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 180.0  # seconds; the bundled report prints in a few

_DATE_META = re.compile(r'<meta name="dcterms\.date" content="(\d{4})-(\d{2})-(\d{2})">')
# Skia writes each as (D:YYYYMMDDHHmmSS+HH'mm'): the 14 digits are replaced in place, so every
# byte offset in the cross-reference table stays valid.
_PDF_DATE = re.compile(rb"(/(?:CreationDate|ModDate) \(D:)(\d{14})")
_NODE_ID = re.compile(rb"\(node(\d{8})\)")


class PdfError(RuntimeError):
    """Chromium is missing, failed, or printed nothing: the message says which and what to do."""


def find_chromium(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The Chromium to print with: `explicit`, else $EVIDENCE_CHROMIUM, else the first of
    `CANDIDATES` on PATH."""
    given = explicit or os.environ.get(CHROMIUM_ENV)
    if given:
        path = Path(given)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise PdfError(f"Chromium not found at {path} (from --chromium or ${CHROMIUM_ENV})")
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise PdfError(
        "Chromium is not installed: `evidence report --pdf` prints the report with headless "
        f"Chromium. Install it (Debian: apt-get install chromium; `make browser` does this), "
        f"or point ${CHROMIUM_ENV} or --chromium at a Chromium or Chrome executable."
    )


def report_date(html: str) -> str | None:
    """The report's date (its data's) as PDF date digits (YYYYMMDD000000), from `dcterms.date`."""
    m = _DATE_META.search(html)
    return None if m is None else "".join(m.groups()) + "000000"


def fixed_dates(pdf: bytes, date: str) -> bytes:
    """`pdf` with its creation and modification dates set to `date` (14 digits)."""
    if not re.fullmatch(r"\d{14}", date):
        raise ValueError(f"a PDF date needs 14 digits, got {date!r}")
    return _PDF_DATE.sub(lambda m: m.group(1) + date.encode(), pdf)


def fixed_node_ids(pdf: bytes) -> bytes:
    """Structure-element ids renumbered 0, 1, 2... in their numeric order: the same ids
    whatever the DOM counter started at, and the IDTree's sorted names stay sorted."""
    ranks = {old: b"%08d" % n for n, old in enumerate(sorted(set(_NODE_ID.findall(pdf))))}
    if len(ranks) > 10**8:
        return pdf  # cannot be renumbered at the same width; leave as printed
    return _NODE_ID.sub(lambda m: b"(node" + ranks[m.group(1)] + b")", pdf)


def chromium_args(chromium: Path, profile: Path, out: Path, page: Path) -> list[str]:
    return [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pdf-header-footer",  # no date, file path or page title printed on each page
        f"--user-data-dir={profile}",
        f"--print-to-pdf={out}",
        page.resolve().as_uri(),
    ]


def print_pdf(html: Path, pdf: Path, chromium: Path, timeout: float = TIMEOUT) -> bool:
    """Print `html` to `pdf` (written atomically). Returns whether the dates were fixed, i.e.
    whether a second print gives the same bytes."""
    if not html.is_file():
        raise PdfError(f"{html}: no report to print; run `evidence run` first")
    date = report_date(html.read_text(encoding="utf-8"))
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pdf-", dir=pdf.parent) as tmp:
        work = Path(tmp)
        out = work / "report.pdf"
        env = os.environ | {"TZ": "UTC"}
        try:
            done = subprocess.run(
                chromium_args(chromium, work / "profile", out, html),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PdfError(f"{chromium} did not print {html} within {timeout:g} s") from None
        except OSError as exc:
            raise PdfError(f"{chromium} could not be started: {exc}") from None
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise PdfError(f"{chromium} failed to print {html} (exit {done.returncode}):\n{tail}")
        data = out.read_bytes()
        if not data.startswith(b"%PDF-"):
            raise PdfError(f"{chromium} wrote something that is not a PDF for {html}")
        data = fixed_node_ids(data)
        if date is not None:
            data = fixed_dates(data, date)
        staged = work / "staged.pdf"
        staged.write_bytes(data)
        with staged.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(staged, pdf)
    return date is not None
