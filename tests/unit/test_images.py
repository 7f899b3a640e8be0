"""Images: the SSRF guard, safe fetching, rendering in a (fake) pool and content-addressed files.

Name resolution is faked with trio's custom hostname resolver and HTTP with
``httpx.MockTransport`` (which never resolves names itself); rendering runs for real
with Pillow, in-process through ``inline_runner``.
"""

from __future__ import annotations

import io
import json
import pickle
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
import trio_parallel
from PIL import Image

from scenescout_cli.enrich.images import (
    ImageError,
    ImageResult,
    fetch_image,
    hamming,
    phash,
    process_image,
    render_variants,
)
from scenescout_cli.enrich.netguard import UnsafeUrl, address_refusal, check_url
from scenescout_cli.workers import inline_runner, open_worker_pool

FIXTURES = Path(__file__).parents[2] / "fixtures" / "images"

PUBLIC = "93.184.215.14"
HOSTS = {
    "images.example": [PUBLIC],
    "cdn.example": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "intranet.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "sneaky.example": [PUBLIC, "127.0.0.1"],  # one bad address is enough
    "mapped.example": ["::ffff:192.168.0.1"],
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeResolver(trio.abc.HostnameResolver):
    """Resolves from a table; unknown names fail like a real NXDOMAIN."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        await trio.lowlevel.checkpoint()
        name = (host or b"").decode()
        self.asked.append(name)
        if name not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.table[name]
        ]

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        raise NotImplementedError


@pytest.fixture
async def resolver() -> AsyncIterator[FakeResolver]:
    fake = FakeResolver(HOSTS)
    previous = trio.socket.set_custom_hostname_resolver(fake)
    try:
        yield fake
    finally:
        trio.socket.set_custom_hostname_resolver(previous)


def client(handler: Callable[[httpx.Request], Any]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def image_response(data: bytes, ctype: str = "image/jpeg", **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": ctype}, content=data, **kwargs)


# ---------------------------------------------------------------------------
# The address rule


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (embedded IPv4)"),
        ("::ffff:10.0.0.1", "private (embedded IPv4)"),
        ("2002:7f00:1::", "loopback (embedded IPv4)"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "link-local (embedded IPv4)"),  # NAT64
        ("not-an-ip", "not an IP address"),
    ],
)
def test_refused_addresses(address: str, why: str) -> None:
    """Loopback, private, link-local, multicast, reserved, unspecified (embedded too): refused."""
    assert address_refusal(address) == why


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    """Globally routable addresses are allowed."""
    assert address_refusal(address) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/a.jpg", "private_address"),
        ("http://10.0.0.7:8080/a.jpg", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[::1]/a.jpg", "private_address"),
        ("http://[::ffff:127.0.0.1]/a.jpg", "private_address"),
        ("http://2130706433/a.jpg", "private_address"),  # 127.0.0.1 spelled as one number
        ("http://0x7f.1/a.jpg", "private_address"),
        ("ftp://images.example/a.jpg", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:image/png;base64,AAAA", "scheme"),
        ("/relative/a.jpg", "scheme"),
        ("http:///a.jpg", "bad_url"),
    ],
)
async def test_check_url_refuses(url: str, reason: str, resolver: FakeResolver) -> None:
    """Bad schemes and literal addresses into private ranges are refused."""
    with pytest.raises(UnsafeUrl) as info:
        await check_url(url, allow_private=False)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "host", ["intranet.example", "metadata.example", "sneaky.example", "mapped.example"]
)
async def test_check_url_judges_resolved_addresses(host: str, resolver: FakeResolver) -> None:
    """A name is judged by every address it resolves to, not by its spelling."""
    with pytest.raises(UnsafeUrl) as info:
        await check_url(f"https://{host}/a.jpg", allow_private=False)
    assert info.value.reason == "private_address"
    assert resolver.asked == [host]


async def test_check_url_allows_public_names(resolver: FakeResolver) -> None:
    """Names resolving only to public addresses (v4 or v6) pass."""
    await check_url("https://images.example/a.jpg", allow_private=False)
    await check_url("http://cdn.example:8080/a.jpg", allow_private=False)


async def test_unresolvable_names_are_refused(resolver: FakeResolver) -> None:
    """A name that does not resolve cannot be vetted, so it is refused."""
    with pytest.raises(UnsafeUrl) as info:
        await check_url("https://nowhere.example/a.jpg", allow_private=False)
    assert info.value.reason == "unresolvable"


async def test_localhost_is_refused_through_the_real_resolver() -> None:
    """``localhost`` resolved by the system still lands on loopback and is refused."""
    with pytest.raises(UnsafeUrl) as info:
        await check_url("http://localhost:8000/a.jpg", allow_private=False)
    assert info.value.reason == "private_address"


async def test_allow_private_lifts_the_address_rule_only(resolver: FakeResolver) -> None:
    """SCENESCOUT_ALLOW_PRIVATE_NETWORK allows private hosts, never other schemes."""
    await check_url("http://127.0.0.1:8080/a.jpg", allow_private=True)
    await check_url("http://intranet.example/a.jpg", allow_private=True)
    assert resolver.asked == []
    with pytest.raises(UnsafeUrl):
        await check_url("file:///etc/passwd", allow_private=True)


def test_unsafe_url_pickles_with_its_reason() -> None:
    """UnsafeUrl keeps reason and detail through pickling."""
    copy = pickle.loads(pickle.dumps(UnsafeUrl("scheme", "ftp scheme")))
    assert (copy.reason, copy.detail) == ("scheme", "ftp scheme")


# ---------------------------------------------------------------------------
# Fetching


async def test_fetch_returns_the_bytes(resolver: FakeResolver) -> None:
    """A 200 image/* response within the cap is returned whole."""
    data = fixture("photo.jpg")
    async with client(lambda request: image_response(data)) as http:
        got = await fetch_image("https://images.example/a.jpg", http=http, allow_private=False)
    assert got == data


async def test_redirect_to_loopback_is_refused(resolver: FakeResolver) -> None:
    """A public URL that redirects to loopback is refused before the second request."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "http://127.0.0.1:2375/secret.png"})

    async with client(handler) as http:
        with pytest.raises(ImageError) as info:
            await fetch_image("https://images.example/a.jpg", http=http, allow_private=False)
    assert info.value.reason == "unsafe_url"
    assert seen == ["https://images.example/a.jpg"]


async def test_redirect_to_a_name_resolving_inwards(resolver: FakeResolver) -> None:
    """Redirect targets are resolved and vetted like the first URL."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "images.example":
            return httpx.Response(301, headers={"location": "http://metadata.example/x"})
        raise AssertionError("followed a refused redirect")

    async with client(handler) as http:
        with pytest.raises(ImageError) as info:
            await fetch_image("https://images.example/a.jpg", http=http, allow_private=False)
    assert info.value.reason == "unsafe_url"
    assert resolver.asked == ["images.example", "metadata.example"]


async def test_redirect_to_another_scheme_is_refused(resolver: FakeResolver) -> None:
    """A redirect to file:// is refused."""
    handler = lambda request: httpx.Response(302, headers={"location": "file:///etc/passwd"})  # noqa: E731
    async with client(handler) as http:
        with pytest.raises(ImageError) as info:
            await fetch_image("https://images.example/a.jpg", http=http, allow_private=False)
    assert info.value.reason == "unsafe_url"


async def test_safe_redirects_are_followed(resolver: FakeResolver) -> None:
    """Relative and cross-host redirects to public addresses are followed (each vetted)."""
    data = fixture("small.png")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a.png":
            return httpx.Response(302, headers={"location": "/b.png"})
        if request.url.path == "/b.png":
            return httpx.Response(307, headers={"location": "http://cdn.example/c.png"})
        return image_response(data, "image/png")

    async with client(handler) as http:
        got = await fetch_image("https://images.example/a.png", http=http, allow_private=False)
    assert got == data
    assert resolver.asked == ["images.example", "images.example", "cdn.example"]


async def test_redirect_loops_end(resolver: FakeResolver) -> None:
    """More than five redirects fail the image instead of looping."""
    handler = lambda request: httpx.Response(302, headers={"location": "/again"})  # noqa: E731
    async with client(handler) as http:
        with pytest.raises(ImageError) as info:
            await fetch_image("https://images.example/a.jpg", http=http, allow_private=False)
    assert info.value.reason == "http_status"


async def test_allow_private_fetches_loopback() -> None:
    """With SCENESCOUT_ALLOW_PRIVATE_NETWORK the sandbox's loopback images are fetched."""
    async with client(lambda request: image_response(b"\xff\xd8 jpeg")) as http:
        got = await fetch_image("http://127.0.0.1:9/a.jpg", http=http, allow_private=True)
    assert got == b"\xff\xd8 jpeg"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(404), "http_status"),
        (httpx.Response(500), "http_status"),
        (
            httpx.Response(200, headers={"content-type": "text/html"}, content=b"<p>"),
            "not_an_image",
        ),
        (httpx.Response(200, content=b"\xff\xd8"), "not_an_image"),  # no content type
        (
            httpx.Response(200, headers={"content-type": "image/svg+xml"}, content=b"<svg/>"),
            "not_an_image",
        ),
        (httpx.Response(200, headers={"content-type": "image/png"}, content=b""), "not_an_image"),
        (
            httpx.Response(
                200, headers={"content-type": "image/jpeg", "content-length": "99999999"}
            ),
            "too_large",
        ),
    ],
)
async def test_fetch_refusals(
    response: httpx.Response, reason: str, resolver: FakeResolver
) -> None:
    """Bad statuses, non-image content types and declared oversize bodies are refused."""
    async with client(lambda request: response) as http:
        with pytest.raises(ImageError) as info:
            await fetch_image("https://images.example/a", http=http, allow_private=False)
    assert info.value.reason == reason


# Leaving a stream early abandons httpx's inner async generators (encode/httpx#3686).
@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")
async def test_streamed_size_is_capped(resolver: FakeResolver) -> None:
    """A body with no Content-Length is cut off as soon as it passes the cap."""
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "image/png"}, content=body())

    async with client(handler) as http:
        with pytest.raises(ImageError) as info:
            await fetch_image(
                "https://images.example/a", http=http, allow_private=False, max_bytes=5_500
            )
    assert info.value.reason == "too_large"
    assert len(sent) == 6


async def test_fetch_deadline(
    autojump_clock: trio.testing.MockClock, resolver: FakeResolver
) -> None:
    """A server that never finishes fails the image at the download deadline."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError

    async with client(handler) as http:
        start = trio.current_time()
        with pytest.raises(ImageError) as info:
            await fetch_image(
                "https://images.example/a", http=http, allow_private=False, timeout=15.0
            )
    assert info.value.reason == "timeout"
    assert trio.current_time() - start == 15.0


async def test_transport_errors_are_network(resolver: FakeResolver) -> None:
    """Connection failures become ImageError("network"), as do unresolvable hosts."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client(handler) as http:
        for url in ("https://images.example/a", "https://nowhere.example/a"):
            with pytest.raises(ImageError) as info:
                await fetch_image(url, http=http, allow_private=False)
            assert info.value.reason == "network"


# ---------------------------------------------------------------------------
# Rendering (pure; in a worker in production)


def all_files(root: Path, suffix: str) -> list[str]:
    return [p.name for p in root.rglob(f"*{suffix}")]


def open_webp(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "WEBP"
    return im


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    """EXIF orientation is applied: the sideways 80×40 source becomes 40×80, red on top."""
    rendered = render_variants(fixture("exif_rotated.jpg"))
    assert (rendered.width, rendered.height) == (40, 80)
    [variant] = rendered.variants
    im = open_webp(variant.data).convert("RGB")
    assert im.size == (40, 80)
    top, bottom = im.getpixel((20, 10)), im.getpixel((20, 70))
    assert top[0] > 180 > 60 > top[2]  # red
    assert bottom[2] > 180 > 60 > bottom[0]  # blue


def test_metadata_is_stripped() -> None:
    """No EXIF (GPS, camera), XMP or ICC profile survives into the variants."""
    source = fixture("exif_rotated.jpg")
    assert b"photographer@home" in source
    assert b"ScenescoutCam" in source
    for variant in render_variants(source).variants:
        im = open_webp(variant.data)
        assert not im.getexif()
        assert not {"exif", "xmp", "icc_profile"} & set(im.info)
        assert b"photographer@home" not in variant.data
        assert b"ScenescoutCam" not in variant.data


def test_variants_at_each_width_keep_the_aspect() -> None:
    """A 1500×1000 photo gives 320, 640 and 1280 wide WebPs at 3:2."""
    rendered = render_variants(fixture("photo.jpg"))
    assert (rendered.width, rendered.height, rendered.format) == (1500, 1000, "JPEG")
    assert [(v.width, v.height) for v in rendered.variants] == [
        (320, 213),
        (640, 427),
        (1280, 853),
    ]
    for v in rendered.variants:
        assert open_webp(v.data).size == (v.width, v.height)


def test_no_upscaling() -> None:
    """Widths beyond the picture collapse into one variant at its own size."""
    rendered = render_variants(fixture("small.png"), (320, 640, 1280))
    assert [(v.width, v.height) for v in rendered.variants] == [(200, 100)]
    rendered = render_variants(fixture("photo.jpg"), (1280, 3000, 640, 640))
    assert [v.width for v in rendered.variants] == [640, 1280, 1500]


def test_alpha_is_kept() -> None:
    """Transparent pixels stay transparent."""
    [variant] = render_variants(fixture("small.png")).variants
    im = open_webp(variant.data).convert("RGBA")
    assert im.getpixel((50, 50))[3] == 255
    assert im.getpixel((150, 50))[3] == 0


def test_decompression_bomb_is_refused() -> None:
    """A 74-byte PNG claiming 100000×100000 pixels is refused before decoding."""
    with pytest.raises(ImageError) as info:
        render_variants(fixture("bomb.png"))
    assert info.value.reason == "bomb"


def test_pixel_cap_is_configurable() -> None:
    """Just over ``max_pixels`` (Pillow only warns there) is a bomb too."""
    with pytest.raises(ImageError) as info:
        render_variants(fixture("photo.jpg"), max_pixels=1_000_000)
    assert info.value.reason == "bomb"
    assert Image.MAX_IMAGE_PIXELS != 1_000_000  # the global is restored


def test_corrupt_and_foreign_bytes() -> None:
    """A truncated JPEG is corrupt; HTML is not an image."""
    with pytest.raises(ImageError) as info:
        render_variants(fixture("truncated.jpg"))
    assert info.value.reason == "corrupt"
    with pytest.raises(ImageError) as info:
        render_variants(fixture("not_an_image.bin"))
    assert info.value.reason == "not_an_image"


def test_hashes() -> None:
    """pHash is 16 hex chars, stable under re-encoding and resizing, far for other pictures."""
    rendered = render_variants(fixture("photo.jpg"))
    assert len(rendered.phash) == 16
    int(rendered.phash, 16)
    smaller = render_variants(rendered.variants[0].data)  # the 320 WebP, decoded again
    assert hamming(rendered.phash, smaller.phash) <= 6
    other = render_variants(fixture("exif_rotated.jpg"))
    assert hamming(rendered.phash, other.phash) > 20
    assert 20 <= len(rendered.blurhash) <= 40
    flipped = Image.open(io.BytesIO(fixture("photo.jpg"))).transpose(Image.Transpose.ROTATE_180)
    assert hamming(phash(flipped), rendered.phash) > 20


def test_image_error_pickles_with_its_reason() -> None:
    """ImageError raised in a worker crosses the process boundary with its slug."""
    copy = pickle.loads(pickle.dumps(ImageError("bomb", "too many pixels")))
    assert (copy.reason, copy.detail) == ("bomb", "too many pixels")


def test_render_result_pickles() -> None:
    """What a worker returns is picklable."""
    rendered = render_variants(fixture("small.png"))
    assert pickle.loads(pickle.dumps(rendered)) == rendered


# ---------------------------------------------------------------------------
# The unit of work


class CountingRunner:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        return await inline_runner(fn, *args)


async def test_process_image_stores_content_addressed_variants(
    tmp_path: Path, resolver: FakeResolver
) -> None:
    """Variants land at images/<h[:2]>/<h>_<w>.webp plus a manifest; a re-run renders nothing."""
    data = fixture("photo.jpg")
    runner = CountingRunner()
    async with (
        client(lambda request: image_response(data)) as http,
        open_worker_pool(1, runner=runner) as pool,
    ):
        result = await process_image(
            "https://images.example/a.jpg",
            http=http,
            pool=pool,
            media_dir=tmp_path,
            allow_private=False,
        )
        again = await process_image(
            "https://images.example/other-url.jpg",
            http=http,
            pool=pool,
            media_dir=tmp_path,
            allow_private=False,
        )
    assert isinstance(result, ImageResult)
    h = result.content_hash
    assert len(h) == 64
    assert [(v.width, v.path) for v in result.variants] == [
        (w, f"images/{h[:2]}/{h}_{w}.webp") for w in (320, 640, 1280)
    ]
    for v in result.variants:
        assert (tmp_path / v.path).stat().st_size == v.bytes
    assert (result.width, result.height) == (1500, 1000)
    manifest = json.loads((tmp_path / "images" / h[:2] / f"{h}.json").read_text())
    assert manifest["phash"] == result.phash
    assert runner.calls == 1
    assert again.source_url == "https://images.example/other-url.jpg"
    assert again.variants == result.variants
    assert (again.phash, again.blurhash) == (result.phash, result.blurhash)
    assert all_files(tmp_path, ".tmp") == []


async def test_missing_variant_file_renders_again(tmp_path: Path, resolver: FakeResolver) -> None:
    """A manifest whose files are gone does not count as done."""
    data = fixture("small.png")
    runner = CountingRunner()
    async with (
        client(lambda request: image_response(data, "image/png")) as http,
        open_worker_pool(1, runner=runner) as pool,
    ):
        kwargs = {"http": http, "pool": pool, "media_dir": tmp_path, "allow_private": False}
        first = await process_image("https://images.example/s.png", **kwargs)
        (tmp_path / first.variants[0].path).unlink()
        await process_image("https://images.example/s.png", **kwargs)
    assert runner.calls == 2
    assert (tmp_path / first.variants[0].path).is_file()


@pytest.mark.parametrize(("name", "reason"), [("bomb.png", "bomb"), ("truncated.jpg", "corrupt")])
async def test_process_image_reports_render_failures(
    name: str, reason: str, tmp_path: Path, resolver: FakeResolver
) -> None:
    """A bad picture fails with its reason from the worker, and writes nothing."""
    data = fixture(name)
    async with (
        client(lambda request: image_response(data, "image/png")) as http,
        open_worker_pool(1, runner=inline_runner) as pool,
    ):
        with pytest.raises(ImageError) as info:
            await process_image(
                "https://images.example/x",
                http=http,
                pool=pool,
                media_dir=tmp_path,
                allow_private=False,
            )
    assert info.value.reason == reason
    assert all_files(tmp_path, ".webp") == []


async def test_process_image_worker_failures(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, resolver: FakeResolver
) -> None:
    """A render that kills its worker twice is worker_failed; one that hangs is timeout."""

    async def crashing(fn: Callable[..., Any], *args: Any) -> Any:
        await trio.lowlevel.checkpoint()
        raise trio_parallel.BrokenWorkerError("Worker died unexpectedly:")

    async def hanging(fn: Callable[..., Any], *args: Any) -> Any:
        await trio.sleep_forever()

    data = fixture("small.png")
    for runner, reason in ((crashing, "worker_failed"), (hanging, "timeout")):
        async with (
            client(lambda request: image_response(data, "image/png")) as http,
            open_worker_pool(1, runner=runner, job_timeout=5.0) as pool,
        ):
            with pytest.raises(ImageError) as info:
                await process_image(
                    "https://images.example/x",
                    http=http,
                    pool=pool,
                    media_dir=tmp_path,
                    allow_private=False,
                )
        assert info.value.reason == reason


async def test_process_image_refuses_unsafe_urls(tmp_path: Path, resolver: FakeResolver) -> None:
    """An unsafe URL fails before any request or rendering."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("requested an unsafe URL")

    async with client(handler) as http, open_worker_pool(1, runner=inline_runner) as pool:
        with pytest.raises(ImageError) as info:
            await process_image(
                "http://intranet.example/a.jpg",
                http=http,
                pool=pool,
                media_dir=tmp_path,
                allow_private=False,
            )
    assert info.value.reason == "unsafe_url"
