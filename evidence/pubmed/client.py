"""An E-utilities client for PubMed: search by Entrez date, fetch metadata in batches.

Requests are built by Bio.Entrez (`_build_request`: parameter encoding, id joining, POST for
long requests) but sent here with urllib and a timeout (`_OPENER.open(..., timeout=...)`), because
Bio.Entrez's own sender (`_open`) keeps its rate limit in an unlocked global (threads burst past
NCBI's limit), retries 429 and 5xx immediately without honouring `Retry-After`, and calls
`urlopen` without a timeout. Not calling `_open` also makes `Entrez.max_tries` irrelevant.
Every attempt, retries included, is sent inside one slot of the shared `RateLimiter`, and
redirects are not followed (they would send a request outside it). Search answers are parsed
with ElementTree and fetched records with lxml (`evidence.pubmed.parse`); neither ever loads a
DTD. Transient `<ERROR>` payloads inside an HTTP 200 (`TRANSIENT_ERRORS`) are retried like 5xx,
with the same backoff and number of tries.

Settings come from the environment: `EVIDENCE_EUTILS_URL` (base URL), `NCBI_EMAIL`,
`NCBI_API_KEY`, and optionally `EVIDENCE_EUTILS_TIMEOUT` (socket timeout, s),
`EVIDENCE_EUTILS_MAX_TRIES` and `EVIDENCE_EUTILS_BACKOFF` (first retry delay, s). The key
and the email are sent to NCBI and nowhere else: they never appear in log messages,
exceptions, reprs or cached records. NCBI may echo a request back (an `<ERROR>` quoting the
URL, an error body), so every message built from a request or its answer goes through
`secrets.scrub` before it is logged or raised.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import os
import sys
import tempfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.error import HTTPError, URLError

from evidence.pubmed.parse import (
    PubmedErrorPayload,
    PubmedLimitError,
    PubmedParseError,
    parse_records,
)
from evidence.pubmed.ratelimit import RateLimiter, ncbi_rate, shared_limiter
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.secrets import scrub
from evidence.safepath import PMID_RULE, ascii_digits, is_pmid

log = logging.getLogger("evidence.pubmed")

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
ENV_URL = "EVIDENCE_EUTILS_URL"
ENV_EMAIL = "NCBI_EMAIL"
ENV_API_KEY = "NCBI_API_KEY"
# Optional tuning knobs (seconds / count); the rate always follows NCBI's limits.
ENV_TIMEOUT = "EVIDENCE_EUTILS_TIMEOUT"
ENV_MAX_TRIES = "EVIDENCE_EUTILS_MAX_TRIES"
ENV_BACKOFF = "EVIDENCE_EUTILS_BACKOFF"
TOOL = "evidence"
SEARCH_CAP = 10_000  # esearch returns at most this many IDs of one query
# An efetch of 500 records is ~10 MB; anything near this is not an E-utilities answer.
MAX_RESPONSE_BYTES = 256 * 2**20
_EXCERPT = 200  # characters of an error body quoted in messages
EARLIEST = date(1800, 1, 1)
_EMPTY_RESULT = "No items found."
# <ERROR> texts NCBI sends inside an HTTP 200 when its back end fails for a while, e.g.
# "Search Backend failed: Unable to open connection to #PMQuerySrv?dbaf=pubmed",
# "Search Backend failed: Database is not supported: pubmed" (an outage: PubMed is always
# supported), "Unable to obtain query #1" (the history server lost a set). Retried like 5xx;
# any other error (a malformed query, a phrase not found) is the same on every try and raises.
TRANSIENT_ERRORS = (
    "search backend failed",
    "backend failed",
    "unable to obtain query",
    "database is not supported",
    "unable to open connection",
    "temporarily unavailable",
    "please try again",
)

T = TypeVar("T")


class EutilsError(RuntimeError):
    """A request that failed for good (after retries, or with a non-retryable answer)."""

    def scrubbed(self, clean: Callable[[str], str]) -> EutilsError:
        """This error with `clean` applied to every text it carries (it may quote a request)."""
        self.args = tuple(clean(a) if isinstance(a, str) else a for a in self.args)
        return self


class EutilsHTTPError(EutilsError):
    def __init__(self, endpoint: str, status: int, detail: str = "") -> None:
        super().__init__(f"{endpoint}: HTTP {status}" + (f" ({detail})" if detail else ""))
        self.status = status


class EutilsQueryError(EutilsError):
    """NCBI answered with an error or warning payload (ERROR, ErrorList, WarningList)."""

    def __init__(self, endpoint: str, messages: Sequence[tuple[str, str]]) -> None:
        text = "; ".join(f"{kind}: {msg}" for kind, msg in messages)
        super().__init__(f"{endpoint}: NCBI reported {text}")
        self.messages = tuple(messages)

    def scrubbed(self, clean: Callable[[str], str]) -> EutilsError:
        self.messages = tuple((kind, clean(msg)) for kind, msg in self.messages)
        return super().scrubbed(clean)

    @property
    def transient(self) -> bool:
        """Whether NCBI reported a passing failure of its own (asking again may succeed)."""
        return any(
            kind == "ERROR" and any(mark in msg.lower() for mark in TRANSIENT_ERRORS)
            for kind, msg in self.messages
        )

    @property
    def phrase_not_found(self) -> bool:
        """Whether NCBI only said part of the query matched nothing (not a malformed query)."""
        kinds = {kind for kind, _ in self.messages}
        return bool(kinds) and kinds <= {"PhraseNotFound", "QuotedPhraseNotFound", "OutputMessage"}


class _Retry(Exception):
    def __init__(
        self, reason: str, retry_after: float | None = None, *, throttled: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled  # NCBI said 429: too many requests


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would send a second request outside the rate limiter's slot (and urllib
    turns a redirected POST into a GET without its IDs): it surfaces as an HTTP error instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def configure_entrez_cache(path: str | None = None) -> str:
    """Point Bio.Entrez's DTD cache at a writable directory (never a possibly read-only HOME).

    Bio.Entrez.Parser creates its cache directory on first import; setting `local_cache` first
    (or moving `DataHandler.directory` if it was imported already) keeps it off HOME.
    """
    from Bio import Entrez

    target = (
        path
        or os.environ.get("EVIDENCE_ENTREZ_CACHE")
        or os.path.join(tempfile.gettempdir(), "evidence-biopython")
    )
    Entrez.local_cache = target
    parser = sys.modules.get("Bio.Entrez.Parser")
    if parser is not None and parser.DataHandler.directory != target:
        parser.DataHandler.directory = target
    return target


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to talk to E-utilities. `api_key` and `email` are kept out of the repr."""

    base_url: str = DEFAULT_EUTILS_URL
    email: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    tool: str = TOOL
    timeout: float = 30.0
    max_tries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    rate: float | None = None
    batch_size: int = 200
    history_batch_size: int = 500
    search_cap: int = SEARCH_CAP
    max_response_bytes: int = MAX_RESPONSE_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Settings from the environment (see the module docstring), then `overrides`."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "base_url": env.get(ENV_URL) or DEFAULT_EUTILS_URL,
            "email": env.get(ENV_EMAIL) or None,
            "api_key": env.get(ENV_API_KEY) or None,
        }
        for name, key, kind in (
            (ENV_TIMEOUT, "timeout", float),
            (ENV_BACKOFF, "backoff", float),
            (ENV_MAX_TRIES, "max_tries", int),
        ):
            if env.get(name):
                try:
                    values[key] = kind(env[name])
                except ValueError:
                    raise EutilsError(f"{name} must be a number, not {env[name]!r}") from None
        values.update(overrides)
        return cls(**values)

    @property
    def effective_rate(self) -> float:
        return self.rate if self.rate is not None else ncbi_rate(self.api_key)


@dataclass(frozen=True)
class SearchPage:
    """One esearch answer."""

    count: int
    ids: tuple[str, ...]
    webenv: str = ""
    query_key: str = ""
    translation: str = ""


@dataclass(frozen=True)
class SearchWindow:
    mindate: date
    maxdate: date
    count: int


@dataclass(frozen=True)
class SearchResult:
    """All PMIDs a term matched between two Entrez dates, however many windows that took."""

    term: str
    mindate: date
    maxdate: date
    ids: tuple[str, ...]
    windows: tuple[SearchWindow, ...]

    @property
    def count(self) -> int:
        return sum(w.count for w in self.windows)


@dataclass
class FetchResult:
    """What a fetch returned: records, and requested PMIDs NCBI no longer returns."""

    records: list[PubmedRecord] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    requests: int = 0


def _read_bounded(response: Any, limit: int, endpoint: str) -> bytes:
    """The body, refused once it passes `limit` bytes (memory stays bounded)."""
    parts: list[bytes] = []
    size = 0
    while chunk := response.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise EutilsError(f"{endpoint}: answer larger than {limit} bytes; refused")
        parts.append(chunk)
    return b"".join(parts)


def _excerpt(exc: HTTPError) -> str:
    """The start of an error body, on one line (NCBI says there what went wrong), unless HTML."""
    try:
        body = exc.read(4 * _EXCERPT)
    except (OSError, http.client.HTTPException, ValueError):
        return ""
    text = " ".join(body.decode("utf-8", "replace").split())
    if not text or text[:15].lower().startswith(("<!doctype html", "<html")):
        return ""
    return text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")


def _date_param(value: date) -> str:
    return value.strftime("%Y/%m/%d")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _clean_pmids(pmids: Iterable[str | int]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for pmid in pmids:
        text = str(pmid)
        if not is_pmid(text):
            raise ValueError(f"not a PMID: {pmid!r}; {PMID_RULE}")
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


class EutilsClient:
    """PubMed through E-utilities, polite by construction (see the module docstring)."""

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or ClientConfig.from_env()
        if not self.config.email:
            raise EutilsError(f"NCBI requires a contact email on every request: set {ENV_EMAIL}")
        self.limiter = limiter or shared_limiter(self.config.effective_rate)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests_made = 0
        configure_entrez_cache()

    def __repr__(self) -> str:
        return f"EutilsClient(base_url={self.config.base_url!r}, rate={self.limiter.rate})"

    # ------------------------------------------------------------------ transport

    def _url(self, endpoint: str) -> str:
        return self.config.base_url.rstrip("/") + "/" + endpoint

    def _params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # Explicit values (None for "absent") so Bio.Entrez's module globals never leak in.
        out: dict[str, Any] = {
            "tool": self.config.tool,
            "email": self.config.email,
            "api_key": self.config.api_key or None,
        }
        out.update(params)
        return out

    def _scrub(self, text: str) -> str:
        return scrub(text, self.config)

    def _send(self, endpoint: str, params: Mapping[str, Any], post: bool | None) -> bytes:
        from Bio import Entrez

        try:
            request = Entrez._build_request(self._url(endpoint), self._params(params), post=post)
        except ValueError as exc:  # the message may hold the whole URL, key and email included
            raise EutilsError(f"{endpoint}: cannot build the request ({exc})") from None
        with self._lock:
            self.requests_made += 1
        try:
            # The slot spans the send up to the status line, so the server's count holds
            # (ratelimit's docstring); the body is read after the slot is given back.
            with self.limiter.slot():
                response = _OPENER.open(request, timeout=self.config.timeout)
            with response:
                return _read_bounded(response, self.config.max_response_bytes, endpoint)
        except HTTPError as exc:
            code = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            detail = _excerpt(exc)
            exc.close()
            if code == 429 or 500 <= code < 600:
                reason = f"HTTP {code}" + (f" ({detail})" if detail else "")
                raise _Retry(reason, retry_after, throttled=code == 429) from None
            if 300 <= code < 400:
                detail = (
                    "redirects are not followed, so every request passes the rate limit; "
                    f"set {ENV_URL} to the address the service moved to"
                )
            raise EutilsHTTPError(endpoint, code, detail) from None
        except ValueError as exc:  # e.g. an unknown URL scheme, quoted with the full URL
            raise EutilsError(f"{endpoint}: cannot send the request ({exc})") from None
        except TimeoutError:
            raise _Retry(f"no answer within {self.config.timeout:g}s") from None
        except URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retry(f"no answer within {self.config.timeout:g}s") from None
            why = exc.reason if isinstance(exc.reason, str) else type(exc.reason).__name__
            raise _Retry(f"connection failed ({why})") from None
        except (http.client.HTTPException, OSError) as exc:
            raise _Retry(f"connection broke ({type(exc).__name__})") from None

    def _request(
        self,
        endpoint: str,
        params: Mapping[str, Any],
        validate: Callable[[bytes], T],
        *,
        post: bool | None = None,
    ) -> T:
        """Send with rate limiting and retries; `validate` turns the body into the result.

        429, 5xx, timeouts, broken connections and unparseable bodies are retried with
        exponential backoff (at least `Retry-After` when NCBI sends it); anything else raises.
        Every message is scrubbed of the key and email first, since NCBI may echo the request.
        """
        tries = max(1, self.config.max_tries)
        last = ""
        for attempt in range(1, tries + 1):
            try:
                try:
                    return validate(self._send(endpoint, params, post))
                except EutilsQueryError as exc:
                    if not exc.transient:
                        raise
                    raise _Retry(str(exc)) from None
            except EutilsError as exc:
                raise exc.scrubbed(self._scrub) from None
            except _Retry as retry:
                last = self._scrub(retry.reason)
                delay = min(self.config.max_backoff, self.config.backoff * 2 ** (attempt - 1))
                if retry.retry_after is not None:
                    delay = max(delay, retry.retry_after)
                if retry.throttled or retry.retry_after is not None:
                    self.limiter.hold_off(delay)  # every thread waits, not only this one
                if attempt == tries:
                    break
                log.warning(
                    "%s: %s; retry %d of %d in %.2fs", endpoint, last, attempt, tries - 1, delay
                )
                self._sleep(delay)
        raise EutilsError(f"{endpoint}: gave up after {tries} tries; last error: {last}")

    # ------------------------------------------------------------------ esearch

    def esearch(
        self,
        term: str,
        *,
        mindate: date | None = None,
        maxdate: date | None = None,
        datetype: str = "edat",
        retmax: int | None = None,
        retstart: int = 0,
        usehistory: bool = True,
    ) -> SearchPage:
        """One esearch request on PubMed; an error or warning payload raises EutilsQueryError."""
        params: dict[str, Any] = {
            "db": "pubmed",
            "term": term,
            "retmax": self.config.search_cap if retmax is None else retmax,
            "retstart": retstart,
        }
        if usehistory:
            params["usehistory"] = "y"
        if mindate is not None or maxdate is not None:
            params["datetype"] = datetype
            params["mindate"] = _date_param(mindate or EARLIEST)
            params["maxdate"] = _date_param(maxdate or date.today())
        return self._request("esearch.fcgi", params, _esearch_page)

    def search(
        self, term: str, *, mindate: date | None, maxdate: date, datetype: str = "edat"
    ) -> SearchResult:
        """Every PMID matching `term` with `datetype` in [mindate, maxdate] (days, inclusive).

        esearch returns at most 10,000 IDs per query, so a window over the cap is halved
        recursively; each window's IDs must equal its Count or the search fails.
        """
        start = mindate or EARLIEST
        if start > maxdate:
            raise ValueError(f"mindate {start} is after maxdate {maxdate}")
        windows: list[SearchWindow] = []
        ids: dict[str, None] = {}
        cap = self.config.search_cap

        def run(lo: date, hi: date) -> None:
            page = self.esearch(term, mindate=lo, maxdate=hi, datetype=datetype, retmax=cap)
            if page.count > cap:
                if lo >= hi:
                    raise EutilsError(
                        f"esearch: {page.count} records on {lo} alone exceed the {cap}-ID cap"
                    )
                mid = lo + (hi - lo) // 2
                run(lo, mid)
                run(mid + timedelta(days=1), hi)
                return
            if len(page.ids) != page.count:
                raise EutilsError(
                    f"esearch: {len(page.ids)} IDs returned for Count {page.count} "
                    f"({lo}..{hi}); refusing a partial result"
                )
            windows.append(SearchWindow(lo, hi, page.count))
            ids.update(dict.fromkeys(page.ids))

        run(start, maxdate)
        total = sum(w.count for w in windows)
        if len(ids) != total:
            raise EutilsError(f"esearch: {len(ids)} distinct IDs for a total Count of {total}")
        return SearchResult(term, start, maxdate, tuple(ids), tuple(windows))

    # ------------------------------------------------------------------ efetch

    def efetch_batch(self, pmids: Sequence[str]) -> list[PubmedRecord]:
        """One efetch POST for up to `batch_size` PMIDs; PMIDs NCBI does not return are absent.

        The whole response must parse: a truncated or corrupted body is fetched again, so a
        batch is either complete or raises.
        """
        batch = _clean_pmids(pmids)
        if not batch:
            return []
        if len(batch) > self.config.batch_size:
            raise ValueError(
                f"{len(batch)} PMIDs in one batch; the limit is {self.config.batch_size}"
            )
        label = f"efetch response for {len(batch)} PMIDs ({batch[0]}..{batch[-1]})"
        params = {"db": "pubmed", "id": ",".join(batch), "retmode": "xml"}
        records = self._request(
            "efetch.fcgi", params, lambda body: _efetch_records(body, label), post=True
        )
        return _only_requested(records, batch, label)

    def epost(self, pmids: Sequence[str]) -> tuple[str, str]:
        """Upload PMIDs to the history server; returns (WebEnv, query_key)."""
        params = {"db": "pubmed", "id": ",".join(_clean_pmids(pmids))}
        return self._request("epost.fcgi", params, _epost_keys, post=True)

    def efetch_history(
        self, webenv: str, query_key: str, retstart: int, retmax: int
    ) -> list[PubmedRecord]:
        """One efetch page of a history-server set."""
        label = f"efetch history page {retstart}..{retstart + retmax - 1}"
        params = {
            "db": "pubmed",
            "WebEnv": webenv,
            "query_key": query_key,
            "retstart": retstart,
            "retmax": retmax,
            "retmode": "xml",
        }
        return self._request("efetch.fcgi", params, lambda body: _efetch_records(body, label))

    def fetch(
        self,
        pmids: Iterable[str | int],
        *,
        on_batch: Callable[[list[PubmedRecord]], None] | None = None,
        workers: int = 1,
        use_history: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> FetchResult:
        """Fetch PMIDs in batches; `on_batch` gets each complete batch (e.g. to cache it).

        A batch is handed over only when it parsed completely, so a fetch that fails part-way
        leaves earlier batches stored and later ones untouched; rerunning resumes. PMIDs that
        NCBI no longer returns are listed in `missing`. `workers` > 1 runs batches in threads
        that all share the one rate limiter.
        """
        wanted = _clean_pmids(pmids)
        before = self.requests_made
        result = FetchResult()
        if not wanted:
            return result

        def deliver(records: list[PubmedRecord], size: int) -> None:
            result.records.extend(records)
            if on_batch is not None:
                on_batch(records)
            if progress is not None:
                progress(size)

        if use_history:
            webenv, query_key = self.epost(wanted)
            step = self.config.history_batch_size
            requested = set(wanted)
            for start in range(0, len(wanted), step):
                page = self.efetch_history(webenv, query_key, start, step)
                label = f"efetch history page {start}"
                deliver(
                    _only_requested(page, list(requested), label), min(step, len(wanted) - start)
                )
        else:
            batches = _chunks(wanted, self.config.batch_size)
            if workers <= 1:
                for batch in batches:
                    deliver(self.efetch_batch(batch), len(batch))
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = [pool.submit(self.efetch_batch, b) for b in batches]
                    for batch, future in zip(batches, futures, strict=True):
                        deliver(future.result(), len(batch))
        returned = {r.pmid for r in result.records}
        result.missing = [p for p in wanted if p not in returned]
        result.requests = self.requests_made - before
        if result.missing:
            log.warning("%d requested PMIDs were not returned by NCBI", len(result.missing))
        return result


# ---------------------------------------------------------------------- response checks


def _xml_root(body: bytes, what: str) -> ET.Element:
    head = body.lstrip()[:512].lower()
    if not head.startswith(b"<") or b"<html" in head or b"<!doctype html" in head:
        raise _Retry(f"{what}: not XML (an error page?)")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise _Retry(f"{what}: malformed or truncated XML ({exc})") from None


def _payload_messages(root: ET.Element) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    def text(e: ET.Element) -> str:
        return " ".join("".join(e.itertext()).split())

    errors = [("ERROR", text(e)) for e in root.iterfind("ERROR")]
    errors += [(e.tag, text(e)) for e in root.iterfind("ErrorList/*")]
    warnings = [(e.tag, text(e)) for e in root.iterfind("WarningList/*")]
    return errors, warnings


def _esearch_page(body: bytes) -> SearchPage:
    root = _xml_root(body, "esearch response")
    errors, warnings = _payload_messages(root)
    if root.tag == "ERROR":
        errors.append(("ERROR", " ".join("".join(root.itertext()).split())))
    # A lone "No items found." with no ErrorList is how NCBI reports a legitimately empty
    # window; any other error or warning means the query did not run as written.
    if errors or any(w != ("OutputMessage", _EMPTY_RESULT) for w in warnings):
        raise EutilsQueryError("esearch", errors + warnings)
    if root.tag != "eSearchResult":
        raise EutilsError(f"esearch: unexpected XML root <{root.tag}>")
    count_text = (root.findtext("Count") or "").strip()
    if not ascii_digits(count_text):
        raise _Retry("esearch response without a Count")
    ids = tuple((e.text or "").strip() for e in root.iterfind("IdList/Id"))
    for pmid in ids:
        if not is_pmid(pmid):
            raise EutilsError(f"esearch: <IdList><Id> {pmid!r} refused: {PMID_RULE}")
    return SearchPage(
        count=int(count_text),
        ids=ids,
        webenv=(root.findtext("WebEnv") or "").strip(),
        query_key=(root.findtext("QueryKey") or "").strip(),
        translation=(root.findtext("QueryTranslation") or "").strip(),
    )


def _epost_keys(body: bytes) -> tuple[str, str]:
    root = _xml_root(body, "epost response")
    errors, warnings = _payload_messages(root)
    if errors or warnings:
        raise EutilsQueryError("epost", errors + warnings)
    webenv = (root.findtext("WebEnv") or "").strip()
    key = (root.findtext("QueryKey") or "").strip()
    if not webenv or not key:
        raise _Retry("epost response without WebEnv/QueryKey")
    return webenv, key


def _efetch_records(body: bytes, label: str) -> list[PubmedRecord]:
    try:
        return parse_records(body, name=label)
    except PubmedErrorPayload as exc:
        raise EutilsQueryError("efetch", [("ERROR", str(exc).split(": ", 1)[-1])]) from None
    except PubmedLimitError as exc:  # asking again would get the same answer
        raise EutilsError(f"efetch: {exc}") from None
    except PubmedParseError as exc:
        raise _Retry(str(exc)) from None


def _only_requested(
    records: list[PubmedRecord], requested: Sequence[str], label: str
) -> list[PubmedRecord]:
    """Keep one record per requested PMID; anything else in the answer is logged and dropped."""
    wanted = set(requested)
    out: dict[str, PubmedRecord] = {}
    for record in records:
        if record.pmid in wanted:
            out.setdefault(record.pmid, record)
        else:
            log.warning("%s: dropped PMID %s that was not requested", label, record.pmid)
    return list(out.values())
