"""The SSRF guard: URLs from provider data may not reach into private networks.

Image (and link) URLs come from provider payloads, i.e. from strangers. Before each
request — the first and every redirect hop — ``check_url`` resolves the host and
refuses the URL if *any* address it resolves to is loopback, private, link-local,
multicast, reserved, unspecified or otherwise not globally routable (IPv4 embedded in
IPv6 — mapped, 6to4, NAT64, Teredo — is judged by its IPv4 address). The check is on
the resolved addresses, not the spelling, so ``http://2130706433/``, ``localhost`` and
names that resolve inwards are all caught. ``SCENESCOUT_ALLOW_PRIVATE_NETWORK=1``
(``allow_private=True``) lifts the address rule; the scheme rule stays.

Residual risk, stated plainly: httpx resolves the name again when it connects, so a
DNS server that answers differently within seconds (rebinding) can slip past a
pre-flight check. Closing that needs address pinning in the transport.

Name resolution goes through ``trio.socket.getaddrinfo``, so tests substitute a
resolver with ``trio.socket.set_custom_hostname_resolver``.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Mapping

import httpx
import trio

from ..errors import ScenescoutError

MAX_REDIRECTS = 5

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeUrl(ScenescoutError):
    """A URL we refuse to fetch; ``reason`` is a stable slug.

    ``bad_url`` (unparseable, no host) · ``scheme`` (not http/https) ·
    ``private_address`` (resolves into a refused range) · ``unresolvable`` (the name
    does not resolve, so it cannot be vetted) · ``too_many_redirects``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[UnsafeUrl], tuple[str, str]]:
        return (type(self), (self.reason, self.detail))


def address_refusal(address: str) -> str | None:
    """Why ``address`` (a literal IPv4/IPv6 address) may not be reached, or None."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None:
            why = address_refusal(str(embedded))
            return f"{why} (embedded IPv4)" if why else None
    for flag, why in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    ):
        if flag:
            return why
    return None


async def check_url(url: str | httpx.URL, *, allow_private: bool) -> None:
    """Return if ``url`` may be fetched; raise ``UnsafeUrl`` if not.

    The scheme must be http or https. Unless ``allow_private``, the host is resolved
    and every address must pass ``address_refusal``; a name that does not resolve is
    refused (``unresolvable``). Resolution runs in a thread (or the custom resolver)
    and is cancellable.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeUrl("bad_url", str(exc)) from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeUrl("scheme", f"{parsed.scheme or 'no'} scheme")
    if not parsed.raw_host:
        raise UnsafeUrl("bad_url", "no host")
    if allow_private:
        return
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded already; IPv6 without brackets
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError as exc:  # socket.gaierror, UnicodeError from IDNA
        raise UnsafeUrl("unresolvable", f"{host}: {exc}") from None
    if not infos:
        raise UnsafeUrl("unresolvable", host)
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if why := address_refusal(address):
            raise UnsafeUrl("private_address", f"{host} resolves to {address} ({why})")


@contextlib.asynccontextmanager
async def guarded_stream(
    http: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    allow_private: bool,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> AsyncIterator[httpx.Response]:
    """GET ``url`` following at most ``max_redirects`` redirects, each hop vetted.

    Yields the first response that is not a redirect, unread (stream it); it is closed
    when the block exits. Raises ``UnsafeUrl`` (any hop refused, or too many redirects)
    and whatever ``httpx`` raises for transport faults — the caller translates those.
    Redirects are followed here, never by httpx (``follow_redirects=False``).
    """
    current = url
    for _ in range(max_redirects + 1):
        await check_url(current, allow_private=allow_private)
        request = http.build_request("GET", current, headers=headers)
        response = await http.send(request, stream=True, follow_redirects=False)
        if response.next_request is None:
            try:
                yield response
            finally:
                await response.aclose()
            return
        current = response.next_request.url
        await response.aclose()
    raise UnsafeUrl("too_many_redirects", f"more than {max_redirects}")
