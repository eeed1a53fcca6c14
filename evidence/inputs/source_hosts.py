"""Hosts whose pages are secondary copies of a source: mirrors, aggregators, AI-generated pages.

Which host is which is data (`source_hosts.csv`: host, kind, reason), so a reader can see and
dispute each judgement; the report marks every source URL on a listed host (or a subdomain of
one) and never lets such a copy stand alone behind a reference number unannounced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from evidence.inputs.textfile import read_csv_rows

KINDS: dict[str, str] = {
    "mirror": "mirror",
    "aggregator": "aggregator",
    "ai_generated": "AI-generated",
}
COLUMNS = ("host", "kind", "reason")
_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)


@dataclass(frozen=True)
class HostMark:
    host: str
    kind: str  # a key of KINDS
    reason: str

    @property
    def label(self) -> str:
        return KINDS[self.kind]


def load_source_hosts(path: Path) -> dict[str, HostMark]:
    """The host list, every row checked; a bad row raises naming the file, line and field."""
    header, rows = read_csv_rows(path)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    out: dict[str, HostMark] = {}
    for line, row in rows:
        host = row.get("host", "").strip().lower().rstrip(".")
        kind = row.get("kind", "").strip()
        reason = row.get("reason", "").strip()
        if not _HOST.fullmatch(host):
            raise ValueError(f"{path}: line {line}: field host: {row.get('host')!r} is not a host")
        if kind not in KINDS:
            raise ValueError(
                f"{path}: line {line}: field kind: {kind!r} is not one of {', '.join(KINDS)}"
            )
        if not reason:
            raise ValueError(f"{path}: line {line}: field reason: empty")
        if host in out:
            raise ValueError(f"{path}: line {line}: field host: {host!r} listed twice")
        out[host] = HostMark(host, kind, reason)
    return out


def url_host(url: str) -> str:
    """The URL's host name, lower case, without port or trailing dot; empty when it has none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def mark_for(url: str, hosts: dict[str, HostMark]) -> HostMark | None:
    """The mark of the URL's host or of the nearest listed domain it belongs to."""
    labels = url_host(url).split(".")
    for i in range(max(1, len(labels) - 1)):
        found = hosts.get(".".join(labels[i:]))
        if found is not None:
            return found
    return None
