"""Sanitisation: safe HTML, plain text with paragraphs, normalised text, URLs, codes."""

from __future__ import annotations

import datetime as dt
import html.parser
from typing import Any

import attrs
import pytest

from scenescout_cli.enrich.sanitize import (
    HTML_TAGS,
    MAX_DESCRIPTION,
    MAX_DESCRIPTION_HTML,
    MAX_TITLE,
    clean_url,
    sanitize,
)
from scenescout_cli.model import Event


def event(**changes: Any) -> Event:
    base = Event(
        source="eventbrite",
        source_id="123456789012",
        title="Harbor Lights",
        starts_at=dt.datetime(2026, 7, 11, 0, 0, tzinfo=dt.UTC),
        timezone="America/New_York",
    )
    return attrs.evolve(base, **changes)


class _Audit(html.parser.HTMLParser):
    """Collects every tag and attribute of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def audit(fragment: str) -> _Audit:
    parser = _Audit()
    parser.feed(fragment)
    parser.close()
    return parser


def assert_safe(fragment: str | None) -> None:
    """Only allow-listed tags; only href (http/https) and our rel on links."""
    if fragment is None:
        return
    found = audit(fragment)
    assert set(found.tags) <= HTML_TAGS
    for name, value in found.attrs:
        assert name in {"href", "rel"}
        if name == "href":
            assert value is not None
            assert value.startswith(("http://", "https://"))
        else:
            assert value == "noopener nofollow"
    lowered = fragment.lower()
    for needle in ("<script", "javascript:", "data:", "onerror", "onload", "onclick", "<iframe"):
        assert needle not in lowered


XSS_VECTORS = [
    "<p>hi</p><script>alert(1)</script>",
    '<img src=x onerror="alert(1)">text',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    '<a href="  javascript:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<a href="vbscript:msgbox(1)">click</a>',
    "<svg onload=alert(1)><circle r=1></circle></svg>",
    '<iframe src="javascript:alert(1)"></iframe>after',
    '<p style="background:url(javascript:alert(1))" onmouseover="alert(1)">styled</p>',
    "<scr<script>ipt>alert(1)</script>",
    '<a href="https://ok.example/" onclick=alert(1)',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<!--<script>alert(1)</script>-->comment",
    "<body onload=alert(1)><p>body</p>",
    '<object data="javascript:alert(1)"></object><embed src="data:x">',
    '<form action="javascript:alert(1)"><input onfocus=alert(1) autofocus></form>',
    "<style>@import 'https://evil.example/x.css';</style><p>style</p>",
    "<p><b><i>unclosed <a href='https://ok.example/'>link",
    "<noscript><p title='</noscript><img src=x onerror=alert(1)>'></noscript>",
    "<template><script>alert(1)</script></template><p>tpl</p>",
    '<a href="https://ok.example/" target="_blank" rel="opener">keep href</a>',
]


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_xss_vectors_are_removed(vector: str) -> None:
    """Scripts, handlers, javascript:/data: URLs and odd tags never reach description_html."""
    clean = sanitize(event(description=vector))
    assert_safe(clean.description_html)
    plain = (clean.description or "").lower()
    for needle in ("<script", "<a ", "<img", "<svg", "<iframe", "onclick", "onerror"):
        assert needle not in plain


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_xss_vectors_in_provider_html_are_removed(vector: str) -> None:
    """The same holds when the provider's HTML arrives in ``description_html``."""
    assert_safe(sanitize(event(description_html=vector)).description_html)


def test_allowed_markup_is_kept_and_links_get_rel() -> None:
    """Paragraphs, emphasis, lists and https links survive; links get rel=noopener nofollow."""
    clean = sanitize(
        event(
            description=(
                "<p>Doors at <strong>7pm</strong>, <em>show</em> at 8.</p><ul><li>GA</li>"
                '<li>Bar</li></ul><p><a href="https://tickets.example/x?a=1&amp;b=2">Tickets</a>'
                "</p><h2>Age</h2><p>21+</p>"
            )
        )
    )
    assert clean.description_html == (
        "<p>Doors at <strong>7pm</strong>, <em>show</em> at 8.</p><ul><li>GA</li><li>Bar</li>"
        '</ul><p><a href="https://tickets.example/x?a=1&amp;b=2" rel="noopener nofollow">'
        "Tickets</a></p><h2>Age</h2><p>21+</p>"
    )


def test_html_description_becomes_plain_text_with_paragraph_breaks() -> None:
    """Plain text keeps paragraphs, list items and line breaks; references are decoded."""
    clean = sanitize(
        event(
            description=(
                "<div><p>Doors   at 7pm.<br>Show at 8pm.</p>\n<ul><li>GA</li><li>Bar &amp; "
                "food</li></ul><p>See&nbsp;you!</p></div>"
            )
        )
    )
    assert clean.description == "Doors at 7pm.\nShow at 8pm.\n\n• GA\n\n• Bar & food\n\nSee you!"


def test_escaped_markup_stays_text() -> None:
    """Escaped angle brackets are text in the plain description, not tags."""
    clean = sanitize(event(description="<p>5 &lt; 7 &amp;&amp; &lt;b&gt;literal&lt;/b&gt;</p>"))
    assert clean.description == "5 < 7 && <b>literal</b>"
    assert_safe(clean.description_html)


def test_angle_brackets_in_prose_stay_plain_text() -> None:
    """ "a < b" and "<3" are prose, not markup: no description_html is made."""
    clean = sanitize(event(description="We <3 jazz; 5 < 7", title="Rock <3 Roll"))
    assert (clean.description, clean.description_html) == ("We <3 jazz; 5 < 7", None)
    assert clean.title == "Rock <3 Roll"


def test_plain_text_description_is_normalised_without_html() -> None:
    """Plain text: spaces collapsed, blank-line runs become one, no description_html."""
    clean = sanitize(event(description="  Doors 7pm.\r\n\r\n\r\n\r\nShow\t\t8pm.  \n  "))
    assert clean.description == "Doors 7pm.\n\nShow 8pm."
    assert clean.description_html is None


def test_provider_html_wins_over_a_summary() -> None:
    """With description_html from the provider, the plain text is derived from it."""
    clean = sanitize(
        event(description="Short summary", description_html="<p>Full</p><p>description</p>")
    )
    assert clean.description == "Full\n\ndescription"
    assert clean.description_html == "<p>Full</p><p>description</p>"


def test_markup_without_text_leaves_no_description() -> None:
    """HTML with nothing readable (only scripts, empty tags) gives no description at all."""
    clean = sanitize(event(description="<p> </p><script>alert(1)</script><br>"))
    assert (clean.description, clean.description_html) == (None, None)


def test_title_loses_tags_and_decodes_references() -> None:
    """Eventbrite-style titles: tags stripped, &amp;/&#39; decoded, whitespace collapsed."""
    assert sanitize(event(title="<b>Rock</b> &amp;  Roll &#39;26")).title == "Rock & Roll '26"
    assert sanitize(event(title="AT&T Presents")).title == "AT&T Presents"
    assert sanitize(event(title="Jazz &amp;lt;b&amp;gt;Night")).title == "Jazz Night"


def test_control_characters_are_removed_and_text_is_nfc() -> None:
    """NUL, bidi overrides, zero-width spaces and BOM go; decomposed accents are composed."""
    clean = sanitize(
        event(
            title="\ufeffCafe\u0301 \u202eSessions\u202c\x00\u200b",
            venue_name="  Le\u00a0Poisson\n Rouge ",
            description="Line\x07 one\x1b[31m",
        )
    )
    assert clean.title == "Café Sessions"
    assert clean.venue_name == "Le Poisson Rouge"
    assert clean.description == "Line one[31m"


def test_lengths_are_capped() -> None:
    """Titles, plain and HTML descriptions are capped; a cut text ends with an ellipsis."""
    clean = sanitize(
        event(
            title="word " * 200,
            description="<p>" + "paragraph text " * 300 + "</p>" * 1 + "<p>more</p>" * 3000,
        )
    )
    assert len(clean.title) <= MAX_TITLE
    assert clean.title.endswith("…")
    assert clean.description is not None
    assert len(clean.description) <= MAX_DESCRIPTION
    assert clean.description_html is not None
    assert len(clean.description_html) <= MAX_DESCRIPTION_HTML
    assert clean.description_html.endswith("</p>")
    assert_safe(clean.description_html)


def slow_clean_url(value: str | None) -> str | None:
    """clean_url's rule spelled out with urlsplit only (the reference for its fast path)."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > 2048 or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return parts.scheme.lower() + url[len(parts.scheme) :]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.ticketmaster.com/event/1", "https://www.ticketmaster.com/event/1"),
        ("HTTP://Example.com/A?b=1", "http://Example.com/A?b=1"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("ftp://example.com/file", None),
        ("/relative/path", None),
        ("//example.com/protocol-relative", None),
        ("https://", None),
        ("https://exa mple.com/", None),
        ("https://example.com/\x00", None),
        ("https://[::1", None),
        ("https://[::1]:8080/x", "https://[::1]:8080/x"),
        ("https://user:pw@example.com/x", "https://user:pw@example.com/x"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("HTTPS://example.com?q=1#top", "https://example.com?q=1#top"),
        ("https://:80/x", None),
        ("https://example.com/" + "a" * 3000, None),
        ("", None),
        (None, None),
    ],
)
def test_urls_are_limited_to_http_and_https(url: str | None, expected: str | None) -> None:
    """Only absolute http(s) URLs with a host survive; the scheme is lower-cased."""
    assert clean_url(url) == expected
    assert clean_url(url) == slow_clean_url(url)  # the fast path answers as urlsplit does
    assert sanitize(event(url=url, image_url=url)).image_url == expected


@pytest.mark.parametrize(
    ("currency", "expected"), [("usd", "USD"), (" GBP ", "GBP"), ("US$", None), ("XXX", None)]
)
def test_currency_is_an_iso_code_or_none(currency: str, expected: str | None) -> None:
    """Currencies are upper-cased ISO 4217 codes; anything else is dropped."""
    assert sanitize(event(currency=currency)).currency == expected


@pytest.mark.parametrize(("country", "expected"), [("us", "US"), ("GB", "GB"), ("USA", None)])
def test_country_is_an_alpha_2_code_or_none(country: str, expected: str | None) -> None:
    """Countries are ISO 3166 alpha-2 (Meetup sends lower case)."""
    assert sanitize(event(country=country)).country == expected


def test_tags_are_cleaned_and_deduplicated() -> None:
    """Tags are single-line, non-empty and unique, in their first order."""
    assert sanitize(event(tags=("Music", " Rock ", "", "Music", "Pop\n"))).tags == (
        "Music",
        "Rock",
        "Pop",
    )


@pytest.mark.parametrize(
    "description",
    [
        "<p>Doors <b>7pm</b></p><ul><li>GA</li></ul>" + "<p>x</p>" * 5,
        "Plain text\n\n\nwith   gaps",
        XSS_VECTORS[12],
        "<p>" + "long " * 5000 + "</p>",
    ],
)
def test_sanitize_is_idempotent(description: str) -> None:
    """Sanitising twice gives the same event as sanitising once."""
    once = sanitize(event(description=description, title=" <i>A</i> &amp; B "))
    assert sanitize(once) == once
    assert sanitize(once).description_html == once.description_html


def test_raw_payload_is_untouched() -> None:
    """The provider payload stays as it was (it is stored for provenance)."""
    raw = {"name": {"html": "<b>x</b>"}}
    assert sanitize(event(raw=raw)).raw is raw


def test_usual_lines_are_remembered_and_huge_ones_are_not() -> None:
    """A repeated line is cleaned once; a line too long to keep is cleaned each time,
    the same way, and never held by the cache."""
    from scenescout_cli.enrich import sanitize as module

    cache = module._clean_line_cached
    usual = "  The\u200b Bowery   Ballroom "
    huge = "Ballroom " * 200  # 1,800 characters
    before = cache.cache_info()
    assert module.clean_line(usual) == "The Bowery Ballroom"
    assert module.clean_line(usual) == "The Bowery Ballroom"
    after = cache.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert module.clean_line(huge) == module.clean_line(huge + " ")
    assert module.clean_line(huge).endswith("…")
    assert cache.cache_info().currsize == after.currsize
