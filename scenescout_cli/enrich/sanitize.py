"""Sanitisation: provider text and URLs → safe, normalised values.

``sanitize(event)`` returns a new Event (``evolve_event``); it never raises and never
rejects — what cannot be made safe is dropped (None), and validation decides later
whether the record is still usable. It is idempotent: ``sanitize(sanitize(e)) ==
sanitize(e)``.

Text (all fields): control characters removed (category Cc except newline, plus the
byte-order mark, zero-width space, bidi embeddings/overrides/isolates and lone
surrogates), Unicode NFC, whitespace collapsed, capped at a length with a trailing
"…". Single-line fields (title, venue_name, address, locality, postal_code, tags) lose
line breaks; the title also loses tags and has its character references decoded
(Eventbrite's ``name.html`` carries ``&#39;``).

Descriptions: when the description (or ``description_html``) looks like HTML,
``description_html`` is the nh3-cleaned fragment keeping only :data:`HTML_TAGS`, links
only with http(s) ``href`` and ``rel="noopener nofollow"``, and nothing of script,
style, event handlers, ``javascript:``/``data:`` URLs or comments; ``description`` is
its plain text with a blank line between paragraphs, headings and list items (items
prefixed "• "). Plain-text input is normalised and ``description_html`` is None.

URLs (``url``, ``image_url``): absolute http or https URLs with a host, no
whitespace or control characters, at most :data:`MAX_URL` characters; anything else
becomes None. ``currency`` becomes an upper-case ISO 4217 code or None; ``country`` an
upper-case ISO 3166 alpha-2 code or None.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import nh3

from ..model import Event, evolve_event
from .money import currency_code

__all__ = [
    "HTML_TAGS",
    "MAX_DESCRIPTION",
    "MAX_DESCRIPTION_HTML",
    "MAX_LINE",
    "MAX_TITLE",
    "MAX_URL",
    "clean_html",
    "clean_line",
    "clean_text",
    "clean_url",
    "html_to_text",
    "looks_like_html",
    "sanitize",
]

MAX_TITLE = 300
MAX_LINE = 300  # venue name, address, locality, postal code, one tag
MAX_DESCRIPTION = 10_000
MAX_DESCRIPTION_HTML = 20_000
MAX_URL = 2048

#: Tags kept in ``description_html``; every other tag is removed, its text kept.
HTML_TAGS = frozenset(
    {"p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "a"} | {f"h{n}" for n in range(1, 7)}
)
#: Tags removed together with their content (never text a reader should see).
_DROP_CONTENT = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "embed"}
    | {"svg", "math", "title", "textarea", "select", "head"}
)
#: Tags that end a paragraph in the plain text.
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "header", "footer", "aside", "blockquote", "pre"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "hr", "figure", "figcaption"}
    | {f"h{n}" for n in range(1, 7)}
)
_WIDE_TAGS = _BLOCKS | {"br", "a", "b", "i", "em", "strong", "span", "td", "th", "u", "small"}

_LINK_REL = "noopener nofollow"
_SAFE_CLEANER = nh3.Cleaner(
    tags=set(HTML_TAGS),
    clean_content_tags=set(_DROP_CONTENT),
    attributes={"a": {"href"}},
    url_schemes={"http", "https"},
    url_relative="deny",
    link_rel=_LINK_REL,
    strip_comments=True,
)
# Normalises arbitrary (malformed) HTML into a well-formed fragment that keeps the
# block structure, for the plain-text extraction; no attributes survive.
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(_WIDE_TAGS),
    clean_content_tags=set(_DROP_CONTENT),
    attributes={},
    link_rel=None,
    strip_comments=True,
)

# "<" opening a tag, end tag, comment or processing instruction — even unterminated.
_TAG_LIKE = re.compile(r"<[A-Za-z/!?]")
_CHAR_REF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Cc except \n and \t (handled as whitespace); BOM; zero-width space; bidi controls.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u200b\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\x85\x0b\x0c]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ISO_COUNTRY = re.compile(r"[A-Z]{2}")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_URL_FORBIDDEN = re.compile(r"\s|" + _INVISIBLE.pattern)
_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)>")


def sanitize(event: Event) -> Event:
    """The event with every text field normalised, HTML made safe and bad URLs dropped.

    Pure and total: never raises for any Event. ``raw`` is left untouched (it is the
    provider payload, already free of secrets).
    """
    description, description_html = _descriptions(event.description, event.description_html)
    cleaned: dict[str, Any] = {
        "title": _title(event.title),
        "description": description,
        "description_html": description_html,
        "venue_name": clean_line(event.venue_name),
        "address": clean_line(event.address),
        "locality": clean_line(event.locality),
        "postal_code": clean_line(event.postal_code, cap=32),
        "country": _country(event.country),
        "tags": _tags(event.tags),
        "currency": currency_code(event.currency),
        "url": clean_url(event.url),
        "image_url": clean_url(event.image_url),
    }
    changes = {name: v for name, v in cleaned.items() if v != getattr(event, name)}
    return evolve_event(event, **changes) if changes else event  # clean input: no copy


# --------------------------------------------------------------------------- text


def clean_text(value: str | None, *, cap: int = MAX_DESCRIPTION) -> str | None:
    """Multi-line plain text: invisible characters removed, NFC, spaces collapsed within
    lines, at most one blank line between paragraphs, capped; None when empty."""
    if not isinstance(value, str):
        return None
    text = _LINE_BREAKS.sub("\n", value).replace("\t", " ")
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return _cap(text, cap) or None


def clean_line(value: str | None, *, cap: int = MAX_LINE) -> str | None:
    """One line of plain text (line breaks become spaces), normalised and capped."""
    if not isinstance(value, str):
        return None
    if len(value) > _CACHED_LINE:
        return _clean_line(value, cap)
    return _clean_line_cached(value, cap)


def _clean_line(value: str, cap: int) -> str | None:
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", value))
    return _cap(" ".join(text.split()), cap) or None


# Venue names, addresses, localities and postal codes repeat from record to record: a
# line is cleaned once (~2 µs) and then looked up (~0.2 µs). Only lines of a usual
# length are kept, so an odd provider's huge fields cannot fill the cache (≤ ~4 MiB).
_CACHED_LINE = 512
_clean_line_cached = functools.lru_cache(maxsize=8_192)(_clean_line)


def _title(value: str) -> str:
    """A title without tags or character references; "" when nothing is left (the
    validator rejects it as ``missing_title``)."""
    if not isinstance(value, str):
        return ""
    # Decoding can reveal markup ("&lt;b&gt;"): repeat until nothing changes, so that
    # sanitising a sanitised title is a no-op.
    for _ in range(3):
        if _TAG_LIKE.search(value):
            value = html_to_text(value)
        elif _CHAR_REF.search(value):
            value = html.unescape(value)
        else:
            break
    return clean_line(value, cap=MAX_TITLE) or ""


def _tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = (clean_line(tag, cap=MAX_LINE) for tag in tags)
    return tuple(dict.fromkeys(tag for tag in cleaned if tag))


def _country(value: str | None) -> str | None:
    code = clean_line(value)
    code = code.upper() if code else None
    return code if code and _ISO_COUNTRY.fullmatch(code) else None


def _cap(text: str, cap: int) -> str:
    """``text`` cut to at most ``cap`` characters, at a word boundary when one is near,
    ending in "…" when cut."""
    if len(text) <= cap:
        return text
    cut = text[: cap - 1]
    space = cut.rfind(" ")
    if space > cap * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


# --------------------------------------------------------------------------- HTML


def looks_like_html(value: str) -> bool:
    """True when ``value`` contains something shaped like a tag (even unterminated), a
    comment or a character reference; such text always goes through the HTML cleaner.
    "a < b" and "<3" stay plain text."""
    return bool(_TAG_LIKE.search(value) or _CHAR_REF.search(value))


def clean_html(value: str, *, cap: int = MAX_DESCRIPTION_HTML) -> str:
    """The allow-listed safe HTML of ``value`` (see module docstring), at most ``cap``
    characters and still well-formed."""
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", value)))
    cleaned = _SAFE_CLEANER.clean(text).strip()
    margin = 64
    while len(cleaned) > cap:
        # Re-cleaning a cut fragment closes the open tags and drops a cut-off tag.
        cleaned = _SAFE_CLEANER.clean(cleaned[: cap - margin]).strip()
        margin *= 2
    return cleaned


def html_to_text(value: str, *, cap: int = MAX_DESCRIPTION) -> str:
    """The plain text of an HTML fragment: paragraphs, headings and list items separated
    by a blank line, ``<br>`` as a line break, references decoded; "" when empty."""
    # nh3 output without attributes is regular: every tag is exactly <name> or </name>,
    # and "<" in text is always escaped, so a regular expression reads it exactly.
    markup = _HTML_SPACE.sub(" ", _TEXT_CLEANER.clean(value))
    text = html.unescape(_TAG.sub(_tag_break, markup))
    return clean_text(text, cap=cap) or ""


def _tag_break(match: re.Match[str]) -> str:
    closing, name = match.group(1), match.group(2)
    if name == "br":
        return "\n"
    if name in _BLOCKS:
        return "\n\n• " if name == "li" and not closing else "\n\n"
    return ""


def _descriptions(text: str | None, markup: str | None) -> tuple[str | None, str | None]:
    """(plain description, safe HTML) from the provider's description and HTML.

    HTML given in ``description_html`` wins over ``description`` when it has text; a
    ``description`` that looks like HTML is treated as HTML.
    """
    if isinstance(markup, str):
        safe = clean_html(markup)
        plain = html_to_text(safe)
        if plain:
            return plain, safe
    if isinstance(text, str) and looks_like_html(text):
        safe = clean_html(text)
        plain = html_to_text(safe)
        return (plain, safe) if plain else (None, None)
    return clean_text(text), None


# --------------------------------------------------------------------------- URLs


#: scheme://host[:port] then a path, query, fragment or the end: no user info, no
#: brackets — what urlsplit would accept with a non-empty host.
_PLAIN_URL = re.compile(r"(https?)://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?=[/?#]|\Z)", re.IGNORECASE)


def clean_url(value: str | None) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host, else None.

    The scheme is lower-cased; nothing else is rewritten. Whitespace and control
    characters inside, or more than :data:`MAX_URL` characters, make it None.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL or _URL_FORBIDDEN.search(url):
        return None
    if fast := _PLAIN_URL.match(url):  # the common shape, without urlsplit's cost
        return fast[1].lower() + url[len(fast[1]) :]
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    return scheme + url[len(parts.scheme) :]
