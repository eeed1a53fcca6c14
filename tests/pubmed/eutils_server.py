"""A stand-in for NCBI E-utilities on 127.0.0.1, serving real NCBI responses from the fixtures.

efetch answers are assembled from the PubmedArticle elements of tests/fixtures/ncbi (bytes as
NCBI sent them) under a real DOCTYPE header; esearch and epost answers follow the fixtures'
layout, and error answers are the fixtures themselves. Faults (429 with Retry-After, 5xx, slow
answers, truncated bodies, error payloads, HTML pages, answers that echo the request back as
NCBI's error messages can) are queued per endpoint. Every request
is recorded with its arrival time (taken when its request line is read, on the clock the
client's limiter uses) and parameters so tests can check etiquette, batching and the rate at
the server (`max_per_window`).
"""

from __future__ import annotations

import functools
import gzip
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ncbi"
EFETCH_DIR = FIXTURES / "efetch-pubmed-xml"
ESEARCH_DIR = FIXTURES / "esearch"

_ARTICLE = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>", re.S)
_PMID = re.compile(rb"<PMID[^>]*>(\d+)</PMID>")
_HEADER = re.compile(rb"^(<\?xml[^>]*\?>\s*<!DOCTYPE[^>]*>)", re.S)
_ENTREZ = re.compile(
    rb'<PubMedPubDate PubStatus="entrez">\s*<Year>(\d+)</Year>\s*<Month>(\d+)</Month>\s*'
    rb"<Day>(\d+)</Day>"
)
RATE_LIMIT_BODY = b'{"error":"API rate limit exceeded","count":"4","limit":"3"}'


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most of `times` inside any half-open window [t, t + window) (NCBI's per-second count)."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def read_fixture(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def fixture_articles() -> dict[str, bytes]:
    """PMID -> the exact PubmedArticle bytes, from every efetch fixture."""
    out: dict[str, bytes] = {}
    for path in sorted(EFETCH_DIR.iterdir()):
        for match in _ARTICLE.finditer(read_fixture(path)):
            article = match.group(0)
            out[_PMID.search(article).group(1).decode()] = article
    return out


def efetch_header(path: Path | None = None) -> bytes:
    """XML declaration and DOCTYPE of a real efetch answer."""
    data = read_fixture(path or EFETCH_DIR / "biopython-pubmed1.xml")
    return _HEADER.match(data).group(1)


def entrez_date(article: bytes) -> date | None:
    match = _ENTREZ.search(article)
    if not match:
        return None
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def clone_article(article: bytes, new_pmid: str) -> bytes:
    """A copy of a real article under another PMID (for volume tests only)."""
    old = _PMID.search(article).group(1)
    out = article.replace(b">" + old + b"</PMID>", b">" + new_pmid.encode() + b"</PMID>", 1)
    return out.replace(
        b'<ArticleId IdType="pubmed">' + old + b"</ArticleId>",
        b'<ArticleId IdType="pubmed">' + new_pmid.encode() + b"</ArticleId>",
    )


@dataclass
class Fault:
    """One planned misbehaviour for the next `times` requests to `endpoint` (None: any)."""

    kind: str  # status | sleep | truncate | payload | html | short | echo
    endpoint: str | None = None
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    body: bytes = b""
    times: int = 1
    when_id: str | None = None  # only requests whose `id` list holds this PMID
    echo: bool = False  # a `status` answer whose body quotes the request (URL and parameters)
    location: str | None = None  # a `status` answer's Location header (a 3xx redirect)


@dataclass
class Seen:
    """A request as the server saw it."""

    t: float
    endpoint: str
    method: str
    params: dict[str, str]
    status: int = 200


@dataclass
class StandInState:
    articles: dict[str, bytes] = field(default_factory=fixture_articles)
    header: bytes = field(default_factory=efetch_header)
    edat: dict[str, date] = field(default_factory=dict)
    mhda: dict[str, date] = field(default_factory=dict)  # MeSH date (indexed), when set
    mdat: dict[str, date] = field(default_factory=dict)  # modification date, when set
    queries: dict[str, list[str]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    histories: dict[str, list[str]] = field(default_factory=dict)
    cap: int = 10_000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for pmid, article in self.articles.items():
            day = entrez_date(article)
            if day is not None:
                self.edat.setdefault(pmid, day)

    # ------------------------------------------------------------------ set-up helpers

    def add_clones(self, count: int, first_pmid: int) -> list[str]:
        """`count` articles cloned round-robin from the fixtures under consecutive PMIDs."""
        sources = [self.articles[k] for k in sorted(self.articles)]
        pmids = []
        for i in range(count):
            pmid = str(first_pmid + i)
            article = sources[i % len(sources)]
            self.articles[pmid] = clone_article(article, pmid)
            day = entrez_date(article)
            if day is not None:
                self.edat[pmid] = day
            pmids.append(pmid)
        return pmids

    def set_doctype(self, dtd_name: str) -> None:
        """Serve efetch under a DOCTYPE naming another DTD (e.g. pubmed_270101)."""
        self.header = re.sub(rb"pubmed_\d{6}\.dtd", dtd_name.encode() + b".dtd", self.header)

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def requests(self, endpoint: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if endpoint is None or s.endpoint == endpoint]

    def arrivals(self) -> list[float]:
        """Every request's arrival time (time.monotonic, the client limiter's clock), sorted."""
        return sorted(s.t for s in self.requests())

    def max_per_window(self, window: float = 1.0) -> int:
        """The most requests that arrived inside any half-open sliding window of `window` s."""
        return max_in_window(self.arrivals(), window)

    # ------------------------------------------------------------------ internals

    def take_fault(self, endpoint: str, params: dict[str, str]) -> Fault | None:
        ids = params.get("id", "").split(",")
        with self.lock:
            for fault in self.faults:
                if fault.when_id is not None and fault.when_id not in ids:
                    continue
                if fault.times > 0 and fault.endpoint in (None, endpoint):
                    fault.times -= 1
                    return fault
        return None

    def search_ids(self, term: str) -> list[str] | None:
        if term in self.queries:
            return list(self.queries[term])
        uids = _uid_list(term)
        if uids is not None:
            return sorted((u for u in uids if u in self.articles), key=int, reverse=True)
        return _evaluate(term, self.articles)

    def dated(self, datetype: str) -> dict[str, date]:
        """PMID -> its date of that type (edat, mhda or mdat); empty for other types."""
        return {"edat": self.edat, "mhda": self.mhda, "mdat": self.mdat}.get(datetype, {})

    def set_article(self, pmid: str, article: bytes, **dates: date) -> None:
        """Serve a new version of a record, with its dates (edat=, mhda=, mdat=)."""
        with self.lock:
            self.articles[pmid] = article
            for kind, day in dates.items():
                self.dated(kind)[pmid] = day


# ---------------------------------------------------------------------- tiny query engine

_CLAUSE = re.compile(r'^\s*"?(.+?)"?\[(\w+)\]\s*$')
_UID = re.compile(r"^\s*(\d+)\[uid\]\s*$")


def _uid_list(term: str) -> list[str] | None:
    """The PMIDs of a term `1[uid] OR 2[uid] ...`; None if the term is not that."""
    uids = []
    for part in term.split(" OR "):
        match = _UID.match(part.strip("() "))
        if not match:
            return None
        uids.append(match.group(1))
    return uids


@functools.cache
def _article_facts(article: bytes) -> dict[str, object]:
    root = ET.fromstring(article)
    citation = root.find("MedlineCitation")
    art = citation.find("Article")
    title = "".join(art.find("ArticleTitle").itertext())
    authors = [
        f"{a.findtext('LastName', '')} {a.findtext('Initials', '')}".strip().lower()
        for a in art.iterfind("AuthorList/Author")
    ]
    dois = [
        (e.text or "").lower()
        for e in root.iterfind("PubmedData/ArticleIdList/ArticleId")
        if e.get("IdType") == "doi"
    ]
    year = art.findtext("Journal/JournalIssue/PubDate/Year") or ""
    return {
        "ti": set(re.sub(r"[^0-9a-z]+", " ", title.lower()).split()),
        "au": authors,
        "doi": dois,
        "dp": year,
    }


def _evaluate(term: str, articles: dict[str, bytes]) -> list[str] | None:
    """AND of `value[field]` clauses over ti, 1au, au, doi, dp; None if the term is not that."""
    clauses = []
    for part in term.split(" AND "):
        match = _CLAUSE.match(part)
        if not match or match.group(2) not in {"ti", "1au", "au", "doi", "dp"}:
            return None
        clauses.append((match.group(1).lower(), match.group(2)))
    hits = []
    for pmid, article in articles.items():
        facts = _article_facts(article)
        ok = True
        for value, fld in clauses:
            if fld == "ti":
                ok = value in facts["ti"]
            elif fld == "1au":
                ok = bool(facts["au"]) and facts["au"][0] == value
            elif fld == "au":
                ok = value in facts["au"]
            elif fld == "doi":
                ok = value in facts["doi"]
            elif fld == "dp":
                ok = facts["dp"] == value
            if not ok:
                break
        if ok:
            hits.append(pmid)
    return sorted(hits, key=int, reverse=True)


# ---------------------------------------------------------------------- HTTP handler


def _esearch_xml(
    count: int, ids: Iterable[str], retmax: int, retstart: int, term: str, webenv: str
) -> bytes:
    head = _HEADER.match((ESEARCH_DIR / "biopython-esearch1.xml").read_bytes()).group(1)
    id_xml = "".join(f"<Id>{i}</Id>\n" for i in ids)
    empty = (
        "<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>"
        if count == 0
        else ""
    )
    body = (
        f"<eSearchResult><Count>{count}</Count><RetMax>{retmax}</RetMax>"
        f"<RetStart>{retstart}</RetStart><QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>"
        f"<IdList>\n{id_xml}</IdList><TranslationSet/>"
        f"<QueryTranslation>{_escape(term)}</QueryTranslation>{empty}</eSearchResult>\n"
    )
    return head + b"\n" + body.encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def parse_request(self) -> bool:
        # The arrival time: taken as soon as the request line is in, before headers and body
        # are read, so a slow handler thread cannot make requests look later than they came.
        self.arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        self._handle("GET", urlsplit(self.path).query)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle("POST", self.rfile.read(length).decode())

    def _handle(self, method: str, query: str) -> None:
        state = self.server.state
        endpoint = urlsplit(self.path).path.rsplit("/", 1)[-1]
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        seen = Seen(getattr(self, "arrived", time.monotonic()), endpoint, method, params)
        with state.lock:
            state.seen.append(seen)
        fault = state.take_fault(endpoint, params)
        try:
            if fault is not None and fault.kind == "status":
                seen.status = fault.status
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                if fault.location:
                    headers["Location"] = fault.location
                body = RATE_LIMIT_BODY if fault.status == 429 else b"Server error"
                if fault.echo:
                    body = f"Server error while answering {self._echo(query, params)}".encode()
                self._send(fault.status, body, "text/plain", headers)
                return
            if fault is not None and fault.kind == "echo":
                echoed = _escape(f"Invalid request {self._echo(query, params)}")
                tag = "eSearchResult" if endpoint == "esearch.fcgi" else "eFetchResult"
                self._send(200, f"<{tag}><ERROR>{echoed}</ERROR></{tag}>".encode(), "text/xml")
                return
            if fault is not None and fault.kind == "sleep":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "payload":
                self._send(200, fault.body, "text/xml")
                return
            if fault is not None and fault.kind == "html":
                page = b"<!DOCTYPE html><html><body><h1>Service unavailable</h1></body></html>"
                self._send(200, page, "text/html")
                return
            body = self._answer(endpoint, params, fault)
            if fault is not None and fault.kind == "truncate":
                body = body[: len(body) // 2]
            self._send(200, body, "text/xml")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _echo(self, query: str, params: dict[str, str]) -> str:
        """The request as an error message may quote it: its URL, then its decoded parameters."""
        host, port = self.server.server_address[:2]
        url = f"http://{host}:{port}{urlsplit(self.path).path}?{query}"
        decoded = "; ".join(f"{k}: {v}" for k, v in params.items())
        return f"{url} (parameters {decoded}; key {params.get('api_key', '')})"

    def _answer(self, endpoint: str, params: dict[str, str], fault: Fault | None) -> bytes:
        state = self.server.state
        if endpoint == "esearch.fcgi":
            term = params.get("term", "")
            ids = state.search_ids(term)
            if ids is None:
                return (ESEARCH_DIR / "biopython-esearch8.xml").read_bytes()
            if params.get("datetype") in ("edat", "mhda", "mdat") and "mindate" in params:
                lo = date(*map(int, params["mindate"].split("/")))
                hi = date(*map(int, params["maxdate"].split("/")))
                dated = state.dated(params["datetype"])
                ids = [i for i in ids if i in dated and lo <= dated[i] <= hi]
            retmax = min(int(params.get("retmax", 20)), state.cap)
            retstart = int(params.get("retstart", 0))
            page = ids[retstart : retstart + retmax]
            if fault is not None and fault.kind == "short":
                page = page[:-1]
            webenv = f"MCID_standin{len(state.histories)}"
            with state.lock:
                state.histories[webenv] = ids
            return _esearch_xml(len(ids), page, retmax, retstart, term, webenv)
        if endpoint == "epost.fcgi":
            ids = [i for i in params.get("id", "").split(",") if i]
            if not ids:
                return (ESEARCH_DIR / "biopython-epost3.xml").read_bytes()
            with state.lock:
                webenv = f"MCID_standin{len(state.histories)}"
                state.histories[webenv] = ids
            head = _HEADER.match((ESEARCH_DIR / "biopython-epost1.xml").read_bytes()).group(1)
            return (
                head
                + (
                    f"<ePostResult>\n\t<QueryKey>1</QueryKey>\n\t<WebEnv>{webenv}</WebEnv>\n"
                    "</ePostResult>\n"
                ).encode()
            )
        if endpoint == "efetch.fcgi":
            if "WebEnv" in params:
                ids = state.histories.get(params["WebEnv"], [])
                start = int(params.get("retstart", 0))
                ids = ids[start : start + int(params.get("retmax", 20))]
            else:
                ids = [i for i in params.get("id", "").split(",") if i]
            parts = [state.articles[i] for i in ids if i in state.articles and i not in state.gone]
            return (
                state.header
                + b"\n<PubmedArticleSet>\n"
                + b"\n".join(parts)
                + b"\n</PubmedArticleSet>\n"
            )
        return b"<eInfoResult><ERROR>Unknown endpoint</ERROR></eInfoResult>"

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype}; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StandInState

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that timed out and hung up is expected here


class StandIn:
    """Start with `with StandIn() as s:`; `s.url` is the E-utilities base URL to use."""

    def __init__(self, state: StandInState | None = None) -> None:
        self.state = state or StandInState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/entrez/eutils/"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
