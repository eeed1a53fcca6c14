"""Keep the NCBI API key and contact email out of everything but the request that carries them.

E-utilities echo requests back: an `<ERROR>` may quote the whole request URL, an error page may
repeat the query, an exception may carry the URL. Any text that came from a request or its
answer is therefore passed through `scrub` before it is logged, stored, raised or reported:
the values of the `api_key`, `email` and `tool` parameters in every spelling a URL, a form, JSON
or XML gives them, the configured key and email wherever they appear (also percent-encoded or
XML-escaped, or cut short to a fragment of 8 characters or more, or with invisible characters
inserted), and anything shaped like an email address or an NCBI API key.
"""

from __future__ import annotations

import functools
import html
import os
import re
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote, quote_plus

MASK = "***"
ENV_SECRETS = ("NCBI_API_KEY", "NCBI_EMAIL")

# `api_key=…`, `&email=…`, `tool%3D…`, `"api_key": "…"`, `email="…"`, any case.
_PARAM = re.compile(
    r"(?:(?<=%26)|(?<=%3[Ff])|(?<![A-Za-z0-9]))((?:api(?:[_-]|%5[Ff])?key|e-?mail|tool)"
    r"[\"']?[ \t]*(?:=|%3[Dd]|%253[Dd]|:)[ \t]*[\"']?)"
    r"((?:[^&\s\"'<>%;,)\]}]|%(?!26|3[Bb]|2[Cc]))+)",
    re.IGNORECASE,
)
# Email addresses, plain or percent-encoded (once or twice).
# Parts are bounded (RFC 5321: local part 64, labels 63) so a long text scans in linear time.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}(?:@|%40|%2540)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
    r"\.[A-Za-z]{2,24}",
    re.IGNORECASE,
)
# NCBI API keys are 36 hexadecimal characters; any long run mixing hex letters and digits goes.
_HEX_KEY = re.compile(
    r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{32,64}(?![0-9A-Za-z])",
    re.IGNORECASE,
)


class HasSecrets(Protocol):
    """Anything configured with a key and an email (e.g. `client.ClientConfig`)."""

    @property
    def api_key(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


def secret_values(
    config: HasSecrets | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The configured key and email: from `config` and from the environment (both, in case the
    text was produced under another configuration than the one at hand)."""
    env = os.environ if env is None else env
    values = [getattr(config, "api_key", None), getattr(config, "email", None)]
    values += [env.get(name) for name in ENV_SECRETS]
    return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _spellings(value: str) -> set[str]:
    """How a value can appear in a URL, a form body, XML or HTML."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), html.escape(value)}
    forms |= {quote(f, safe="") for f in tuple(forms)}  # encoded twice, inside another URL
    return {f for f in forms if f}


# Characters that hide a value from a plain search without changing how it reads.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
# A run this long of a configured secret is masked even when the echo cuts the secret short.
MIN_FRAGMENT = 8


def _mask_fragments(text: str, values: tuple[str, ...]) -> str:
    """Mask every run of at least MIN_FRAGMENT characters of a secret (an echo may cut it
    short), case-insensitively, in one pass over the text."""
    secrets = [v.lower() for v in values if len(v) >= MIN_FRAGMENT]
    if not secrets:
        return text
    grams = {v[i : i + MIN_FRAGMENT] for v in secrets for i in range(len(v) - MIN_FRAGMENT + 1)}
    low, out, i, start = text.lower(), [], 0, 0
    while i <= len(low) - MIN_FRAGMENT:
        if low[i : i + MIN_FRAGMENT] not in grams:
            i += 1
            continue
        j = i + MIN_FRAGMENT
        while j < len(low) and any(low[i : j + 1] in v for v in secrets):
            j += 1
        out += [text[start:i], MASK]
        i = start = j
    return "".join([*out, text[start:]])


@functools.lru_cache(maxsize=8)
def _secret_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for every spelling of the configured secrets (built once)."""
    forms = sorted({f for value in values for f in _spellings(value)}, key=len, reverse=True)
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)


def scrub(
    text: str, config: HasSecrets | None = None, *, env: Mapping[str, str] | None = None
) -> str:
    """`text` with every credential replaced by `***` (see the module docstring)."""
    if not text:
        return text
    text = _INVISIBLE.sub("", text)
    values = secret_values(config, env)
    pattern = _secret_pattern(values)
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _mask_fragments(text, values)
    text = _PARAM.sub(lambda m: m.group(1) + MASK, text)
    text = _EMAIL.sub(MASK, text)
    return _HEX_KEY.sub(MASK, text)


def scrub_all(value: object, config: HasSecrets | None = None) -> object:
    """`value` (JSON-like: dicts, lists, strings) with every string scrubbed."""
    if isinstance(value, str):
        return scrub(value, config)
    if isinstance(value, Mapping):
        return {k: scrub_all(v, config) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_all(v, config) for v in value]
    return value
