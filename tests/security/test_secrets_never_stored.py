"""The NCBI API key and contact email never reach a stored file, a report, a log or the terminal.

E-utilities may echo a request back, in an `<ERROR>` or in an error body; the search then stores
the failure in the search state, which the report quotes. These tests make the stand-in server
echo every request (URL and decoded parameters) and look for the credentials, in every spelling,
in every byte the search and the synthesis leave behind.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.client import ClientConfig, EutilsClient, EutilsError
from evidence.pubmed.ratelimit import RateLimiter
from evidence.pubmed.search import STATE_FILE, load_protocol_search, load_state
from evidence.pubmed.secrets import MASK, scrub
from tests.conftest import RAW, synthesize
from tests.pubmed import rawfacts as raw
from tests.pubmed.conftest import no_network  # noqa: F401  (no test may leave 127.0.0.1)
from tests.pubmed.eutils_server import Fault, StandIn

pytestmark = pytest.mark.usefixtures("no_network")

KEY = "canaryKEY_q9w8-Zx7y"  # not hex: only the configured value can give it away
EMAIL = "Leak.Canary+ncbi@secret-lab.example.org"
HEX_KEY = "5d3c1f0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b"  # what a real NCBI key looks like


def _spellings(value: str) -> list[bytes]:
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), html.escape(value)}
    forms |= {quote(f, safe="") for f in tuple(forms)}
    return sorted({f.lower().encode() for f in forms})


def _leaks(data: bytes, *values: str) -> list[str]:
    lower = data.lower()
    return [f.decode() for v in values for f in _spellings(v) if f in lower]


def _files(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture
def full_data(tmp_path: Path) -> Path:
    """A copy of data/raw with its PubMed cache, as a real run has it."""
    dest = tmp_path / "raw"
    shutil.copytree(RAW, dest)
    return dest


@pytest.fixture
def echoing(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in E-utilities, with the client configured through the environment."""
    with StandIn() as server:
        for name, value in {
            "EVIDENCE_EUTILS_URL": server.url,
            "NCBI_EMAIL": EMAIL,
            "NCBI_API_KEY": KEY,
            "EVIDENCE_EUTILS_TIMEOUT": "0.5",
            "EVIDENCE_EUTILS_BACKOFF": "0.01",
            "EVIDENCE_EUTILS_MAX_TRIES": "2",
        }.items():
            monkeypatch.setenv(name, value)
        yield server


def test_echoed_requests_leave_no_credential_in_files_reports_logs_or_output(
    echoing: StandIn,
    full_data: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = load_protocol_search(full_data / "protocols" / "baclofen.yaml")
    assert len(spec.queries) >= 3
    first, second, *rest = spec.queries
    pmids = [raw.pmid_of(a) for p in raw.EFETCH for a in raw.articles(p)]
    for query in rest:
        echoing.state.queries[query.term] = pmids[:3]
    # The first indication's search gets an <ERROR> quoting the request; the second only 500s
    # whose body quotes it (every try), so both failures are stored and reported.
    echoing.state.add_fault(Fault("echo", "esearch.fcgi"))
    echoing.state.add_fault(Fault("status", "esearch.fcgi", status=500, echo=True, times=2))
    processed, reports = tmp_path / "processed", tmp_path / "reports"
    dirs = ["--data", str(full_data), "--processed", str(processed), "--reports", str(reports)]

    searched = CliRunner().invoke(app, ["search", "--protocol", "baclofen", "--live", *dirs])
    assert searched.exit_code == 1, searched.output
    ran = synthesize(full_data, processed, reports)
    assert ran.exit_code == 0, ran.output

    # The echoes went where the findings said they would: into the state and the report.
    seen = echoing.state.requests("esearch.fcgi")
    assert seen and all(s.params["api_key"] == KEY and s.params["email"] == EMAIL for s in seen)
    stale = load_state(full_data / "pubmed" / STATE_FILE)["baclofen"]
    assert "Invalid request" in stale[first.id]["last_failure"]["error"]
    assert "Server error while answering" in stale[second.id]["last_failure"]["error"]
    page = (reports / "baclofen" / "index.html").read_text(encoding="utf-8")
    assert "The PubMed search is stale" in page and "Invalid request" in page

    leaks = {
        str(path): found
        for path in _files(full_data, processed, reports)
        if (found := _leaks(path.read_bytes(), KEY, EMAIL))
    }
    assert leaks == {}
    for name, text in {
        "search output": searched.stdout + searched.stderr,
        "synthesis output": ran.stdout + ran.stderr,
        "log": caplog.text,
    }.items():
        assert _leaks(text.encode(), KEY, EMAIL) == [], name


def test_a_state_file_from_an_older_version_is_scrubbed_before_it_is_reported(
    full_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stored as an unscrubbed version would have: the echo, cut at 300 characters. The run
    # that reports it has no credentials configured, so only their shapes can give them away.
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    url = (
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi?db=pubmed&term=baclofen"
        f"&tool=evidence&email={quote_plus(EMAIL)}&api_key={HEX_KEY}"
    )
    error = f"esearch: NCBI reported ERROR: Invalid request {url} (key {HEX_KEY}; {EMAIL})"
    state = {
        "baclofen": {
            "spasticity": {
                "last_search": "2026-11-01",
                "last_failure": {"date": "2026-11-20", "error": error[:300]},
            }
        }
    }
    path = full_data / "pubmed" / STATE_FILE
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    assert _leaks(path.read_bytes(), HEX_KEY, EMAIL)

    loaded = load_state(path)["baclofen"]["spasticity"]["last_failure"]["error"]
    assert loaded.startswith("esearch: NCBI reported ERROR: Invalid request") and MASK in loaded
    processed, reports = tmp_path / "processed", tmp_path / "reports"
    ran = synthesize(full_data, processed, reports)
    assert ran.exit_code == 0, ran.output
    for name in ("index.html", "report.md"):
        text = (reports / "baclofen" / name).read_bytes()
        assert b"The PubMed search is stale" in text
        assert _leaks(text, HEX_KEY, EMAIL) == [], name
    assert not any(_leaks(p.read_bytes(), HEX_KEY, EMAIL) for p in _files(processed, reports))


@pytest.mark.parametrize(
    "text",
    [
        f"GET /esearch.fcgi?db=pubmed&tool=evidence&email={quote_plus(EMAIL)}&api_key={KEY}",
        f"db=pubmed&amp;email={quote(EMAIL, safe='')}&amp;api_key={KEY}",
        f"<ERROR>api key {KEY} is not valid for {EMAIL}</ERROR>",
        f"<ERROR>{html.escape(EMAIL)} / {KEY.upper()}</ERROR>",
        f'{{"error":"API rate limit exceeded","api-key":"{KEY}","email":"{EMAIL}"}}',
        f"url=https%3A%2F%2Fh%2Fe.fcgi%3Fapi_key%3D{KEY}%26email%3D{quote(quote(EMAIL, safe=''))}",
    ],
)
def test_scrub_removes_every_spelling(text: str) -> None:
    config = ClientConfig(email=EMAIL, api_key=KEY)
    cleaned = scrub(text, config, env={})
    assert _leaks(cleaned.encode(), KEY, EMAIL) == [] and MASK in cleaned
    # Shapes alone (no configuration) catch parameters, addresses and NCBI-style keys.
    assert _leaks(scrub(text.replace(KEY, HEX_KEY), env={}).encode(), HEX_KEY, EMAIL) == []


def test_scrub_leaves_ordinary_messages_alone() -> None:
    for text in (
        "esearch: HTTP 500 (Server error)",
        "NCBI requires a contact email on every request: set NCBI_EMAIL",
        "esearch: 12 IDs returned for Count 13 (2026-01-01..2026-02-01); refusing a partial result",
    ):
        assert scrub(text, ClientConfig(email=EMAIL, api_key=KEY), env={}) == text


def test_a_url_the_request_cannot_be_sent_to_is_reported_without_credentials() -> None:
    # No scheme: urllib refuses the URL and quotes it whole, query string and all.
    base = "eutils.ncbi.nlm.nih.gov/entrez/eutils/"
    config = ClientConfig(base_url=base, email=EMAIL, api_key=KEY, max_tries=1)
    client = EutilsClient(config, limiter=RateLimiter(50.0))
    with pytest.raises(EutilsError, match=r"cannot (build|send) the request") as info:
        client.esearch("baclofen")
    assert _leaks(str(info.value).encode(), KEY, EMAIL) == []


def test_an_echo_that_cuts_a_secret_short_or_hides_it_still_gives_nothing_away() -> None:
    config = ClientConfig(api_key=KEY, email=EMAIL)
    text = (
        f"<ERROR>API key {KEY[:10]}... invalid; contact {EMAIL[:9]}...</ERROR> "
        f"{KEY[:4]}\u200b{KEY[4:]} {KEY.upper()[2:]}"
    )
    out = scrub(text, config)
    for fragment in (KEY[:8], KEY[2:10], EMAIL[:8], KEY.upper()[2:10]):
        assert fragment.lower() not in out.lower(), out
    assert out.count(MASK) >= 4
    assert scrub("short canary and ordinary text", config) == "short canary and ordinary text"


def test_scrubbing_a_long_message_finds_an_address_at_its_end() -> None:
    """Bounded patterns: a long run without an address is passed over, one at the end found."""
    text = "x" * 200_000 + " contact someone@example.org"
    assert scrub(text).endswith(f" contact {MASK}")
