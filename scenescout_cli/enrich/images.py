"""Event images: fetch safely, render WebP variants in the worker pool, store by content.

    result = await process_image(url, http=http, pool=pool, media_dir=settings.media_dir,
                                 allow_private=settings.allow_private_network)

Three layers, each usable alone:

``fetch_image`` (Trio thread, I/O)
    GET through the SSRF guard (``netguard``: every redirect hop vetted), ``image/*``
    content types only, a byte cap on the declared and the streamed size, one deadline
    for the whole download.
``render_variants`` (a pure, top-level function for the worker pool)
    Decode behind a decompression-bomb guard, apply the EXIF orientation, convert to
    sRGB, drop all metadata, resize to each configured width (never upscaling) and
    encode WebP; a blurhash and a 64-bit perceptual hash (DCT pHash) of the picture.
``process_image`` (the unit of work)
    Fetch, render in the pool, write content-addressed files
    ``media_dir/images/<h[:2]>/<h>_<width>.webp`` (``h``: sha256 of the original bytes)
    plus a ``<h>.json`` manifest written last. A manifest already on disk means the
    image was done before: nothing is rendered or written again.

Every failure is an ``ImageError`` with a stable ``reason`` slug, so the caller's one
isolation boundary per image is ``except ImageError``: the event is stored without its
image and the failure recorded. Cancellation propagates untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import secrets
import warnings
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import blurhash
import httpx
import trio
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..errors import ScenescoutError
from ..workers import JobFailed, WorkerPool
from .netguard import UnsafeUrl, guarded_stream

DEFAULT_WIDTHS = (320, 640, 1280)
MAX_BYTES = 10_000_000
MAX_PIXELS = 40_000_000
WEBP_QUALITY = 80
FETCH_SECONDS = 15.0

_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8"
# Content types that say "image" but are not raster pictures Pillow should decode.
_REFUSED_TYPES = ("image/svg+xml",)


class ImageError(ScenescoutError):
    """An image that could not be had; ``reason`` is a stable slug for the failures table.

    ``unsafe_url`` (refused by the SSRF guard, bad scheme or URL) · ``network`` (DNS or
    transport failure) · ``http_status`` (not 200, or too many redirects) ·
    ``not_an_image`` (content type, or bytes Pillow does not recognise) · ``too_large``
    (bytes over the cap) · ``bomb`` (pixels over the cap) · ``corrupt`` (a recognised
    format that fails to decode) · ``timeout`` (download or render deadline) ·
    ``worker_failed`` (the render job crashed its worker twice or raised unexpectedly).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[ImageError], tuple[str, str]]:
        # Raised inside workers: must survive pickling with its slug intact.
        return (type(self), (self.reason, self.detail))


@attrs.frozen
class ImageVariant:
    """One stored WebP rendition; ``path`` is relative to the media dir, POSIX form."""

    width: int
    height: int
    path: str
    bytes: int


@attrs.frozen
class ImageResult:
    """A stored image: what the ``images`` table records for an event's picture."""

    source_url: str
    content_hash: str
    """sha256 (hex) of the original bytes as downloaded."""
    variants: tuple[ImageVariant, ...]
    """Ascending width."""
    blurhash: str
    phash: str
    """64-bit DCT perceptual hash, 16 hex chars; compare with ``hamming``."""
    width: int
    height: int
    """Size of the original after EXIF orientation."""


@attrs.frozen
class RenderedVariant:
    width: int
    height: int
    data: bytes


@attrs.frozen
class RenderedImage:
    """What ``render_variants`` returns from the worker (picklable, bytes only)."""

    width: int
    height: int
    format: str
    variants: tuple[RenderedVariant, ...]
    blurhash: str
    phash: str


# ---------------------------------------------------------------------------
# Fetching


async def fetch_image(
    url: str,
    *,
    http: httpx.AsyncClient,
    allow_private: bool,
    max_bytes: int = MAX_BYTES,
    timeout: float = FETCH_SECONDS,  # noqa: ASYNC109 - see below
) -> bytes:
    """Download the image at ``url``: its bytes, or ``ImageError``.

    Every hop (the URL and each of at most 5 redirects) passes ``netguard.check_url``.
    The final response must be 200 with an ``image/*`` content type (not SVG), declare
    no more than ``max_bytes`` and deliver no more than that (counted after content
    decoding, so compressed transfer cannot smuggle a bigger body).

    ``timeout`` bounds the whole download, redirects included; it is a parameter (not
    the caller's cancel scope, as elsewhere) so that running out of time is just one
    more ``ImageError("timeout")`` inside the caller's per-image boundary. The client's
    own httpx timeouts still bound each connect and read. Cancellation propagates.
    """
    try:
        with trio.fail_after(timeout):
            return await _fetch(url, http, allow_private, max_bytes)
    except trio.TooSlowError:
        raise ImageError("timeout", f"download exceeded {timeout:g}s") from None
    except UnsafeUrl as exc:
        if exc.reason == "unresolvable":
            raise ImageError("network", exc.detail) from exc
        if exc.reason == "too_many_redirects":
            raise ImageError("http_status", "too many redirects") from exc
        raise ImageError("unsafe_url", str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise ImageError("timeout", type(exc).__name__) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ImageError("unsafe_url", str(exc)) from exc
    except httpx.HTTPError as exc:  # transport faults, bad redirects, decoding errors
        raise ImageError("network", f"{type(exc).__name__}: {exc}") from exc


async def _fetch(url: str, http: httpx.AsyncClient, allow_private: bool, max_bytes: int) -> bytes:
    headers = {"Accept": _ACCEPT}
    async with guarded_stream(http, url, allow_private=allow_private, headers=headers) as resp:
        if resp.status_code != 200:
            raise ImageError("http_status", str(resp.status_code))
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if not ctype.startswith("image/") or ctype in _REFUSED_TYPES:
            raise ImageError("not_an_image", f"content type {ctype or 'missing'!r}")
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ImageError("too_large", f"{declared} bytes declared, cap {max_bytes}")
        chunks: list[bytes] = []
        size = 0
        # Leaving early (the cap) abandons httpx's inner stream generators; Trio then
        # finalises them with a ResourceWarning (encode/httpx#3686). Harmless.
        stream = cast(AsyncGenerator[bytes, None], resp.aiter_bytes())  # it is one
        async with contextlib.aclosing(stream) as body:
            async for chunk in body:
                size += len(chunk)
                if size > max_bytes:
                    raise ImageError("too_large", f"over {max_bytes} bytes")
                chunks.append(chunk)
    if not size:
        raise ImageError("not_an_image", "empty body")
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Rendering (runs in a worker process; pure, top-level, picklable in and out)


def render_variants(
    data: bytes,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    max_pixels: int = MAX_PIXELS,
) -> RenderedImage:
    """Decode ``data`` and render one WebP per width, plus blurhash and pHash.

    A width at or above the picture's own gives one variant at the picture's width (no
    upscaling); duplicates collapse. The aspect ratio is kept. EXIF orientation is
    applied, colour converted to sRGB when an ICC profile says otherwise, and no
    metadata (EXIF, XMP, ICC) is written. Alpha is kept.

    Raises ``ImageError``: ``bomb`` (more than ``max_pixels`` pixels, checked from the
    header before decoding), ``not_an_image`` (unrecognised bytes), ``corrupt`` (fails
    to decode). ``MemoryError`` propagates (the pool retires the worker). CPU-bound:
    call it through ``WorkerPool.run``, never on the Trio thread.
    """
    targets = sorted({int(w) for w in widths})
    if not targets or targets[0] < 1:
        raise ValueError("widths must be positive")
    picture, fmt = _decode(data, max_pixels)
    width, height = picture.size
    variants = []
    source = picture
    for target in sorted({min(w, width) for w in targets}, reverse=True):
        size = (target, max(1, round(height * target / width)))
        # each smaller variant is resized from the previous one: far less work
        resized = source if size == source.size else _resize(source, size)
        variants.append(RenderedVariant(*size, _encode_webp(resized)))
        source = resized
    return RenderedImage(
        width=width,
        height=height,
        format=fmt,
        variants=tuple(reversed(variants)),
        blurhash=_blurhash(picture),
        phash=phash(picture),
    )


def _decode(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Oriented, sRGB, metadata-free RGB/RGBA picture, and its source format."""
    saved_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd-but-readable files (corrupt EXIF, …): not our
            # business; but a bomb warning must stop the decode.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = im.format or "unknown"
            if im.width * im.height > max_pixels:
                raise ImageError("bomb", f"{im.width}x{im.height} pixels, cap {max_pixels}")
            im.load()
            picture = ImageOps.exif_transpose(im)
            picture = _to_srgb(picture)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("bomb", str(exc)) from None
    except UnidentifiedImageError:
        raise ImageError("not_an_image", "unrecognised image data") from None
    except MemoryError:
        raise
    except Exception as exc:
        # Hostile or broken files make Pillow's decoders raise nearly anything (OSError,
        # SyntaxError, ValueError, EOFError, struct.error, IndexError, …): all "corrupt".
        raise ImageError("corrupt", f"{type(exc).__name__}: {exc}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    picture.info = {}  # drop EXIF, XMP, ICC and comments carried along by copies
    return picture, fmt


def _to_srgb(im: Image.Image) -> Image.Image:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    mode = "RGBA" if has_alpha else "RGB"
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "srgb" in ImageCms.getProfileDescription(source).lower():
                return im if im.mode == mode else im.convert(mode)  # already sRGB
            target = ImageCms.createProfile("sRGB")
            work_mode = "RGBA" if im.mode == "RGBA" else "RGB"
            converted = ImageCms.profileToProfile(im, source, target, outputMode=work_mode)
            if converted is not None:
                im = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are
    return im if im.mode == mode else im.convert(mode)


def _resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    # reducing_gap: a fast integer box reduction first, then Lanczos for the last step.
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode_webp(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "WEBP", quality=WEBP_QUALITY, method=2)
    return out.getvalue()


def _blurhash(im: Image.Image) -> str:
    thumb = im.convert("RGB")
    thumb.thumbnail((32, 32), Image.Resampling.BILINEAR)
    w, h = thumb.size
    raw = thumb.tobytes()
    rows = [[list(raw[(y * w + x) * 3 : (y * w + x) * 3 + 3]) for x in range(w)] for y in range(h)]
    cx, cy = (4, 3) if w >= h else (3, 4)
    return blurhash.encode(rows, components_x=cx, components_y=cy)


_DCT_SIZE = 32
_HASH_SIZE = 8
_COS = [
    [math.cos(math.pi * (2 * x + 1) * u / (2 * _DCT_SIZE)) for x in range(_DCT_SIZE)]
    for u in range(_HASH_SIZE)
]


def phash(im: Image.Image) -> str:
    """64-bit DCT perceptual hash of ``im`` as 16 hex chars (imagehash's ``phash``).

    Grey 32×32 (Lanczos), 2-D DCT-II, the 8×8 lowest frequencies compared to their
    median. Near-identical pictures (re-encoded, resized) differ in a few bits.
    """
    grey = im.convert("L").resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.LANCZOS)
    px = grey.tobytes()
    n = _DCT_SIZE
    # Separable DCT, only the low frequencies: rows first, then columns.
    rows = [
        [sum(c * p for c, p in zip(cos_u, px[y * n : (y + 1) * n], strict=True)) for cos_u in _COS]
        for y in range(n)
    ]
    coeffs = [
        sum(_COS[v][y] * rows[y][u] for y in range(n))
        for v in range(_HASH_SIZE)
        for u in range(_HASH_SIZE)
    ]
    median = sorted(coeffs)[len(coeffs) // 2 - 1 : len(coeffs) // 2 + 1]
    threshold = sum(median) / 2
    bits = 0
    for c in coeffs:
        bits = (bits << 1) | (c > threshold)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes (pHash: ≤ 10 of 64 is "same picture")."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


# ---------------------------------------------------------------------------
# The unit of work


async def process_image(
    url: str,
    *,
    http: httpx.AsyncClient,
    pool: WorkerPool,
    media_dir: Path,
    allow_private: bool,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> ImageResult:
    """Fetch ``url``, render it in ``pool`` and store its variants; the stored result.

    Files: ``media_dir/images/<h[:2]>/<h>_<w>.webp`` and ``<h>.json``, each written to
    a temporary name and renamed into place, the manifest last; if the manifest and
    its files are already there the image is not rendered again (the download still
    happens: the URL → hash mapping is the caller's, in the images table).

    Raises ``ImageError`` for anything wrong with this image (see its slugs). Disk
    errors (``OSError``) propagate: they are the run's problem, not the image's.
    Cancellation propagates; a half-written file is never visible under its name.
    """
    data = await fetch_image(url, http=http, allow_private=allow_private, max_bytes=max_bytes)
    digest = await trio.to_thread.run_sync(_sha256, data)
    folder = trio.Path(media_dir) / "images" / digest[:2]
    manifest = folder / f"{digest}.json"
    cached = await _read_manifest(manifest, media_dir, url, digest)
    if cached is not None:
        return cached
    try:
        rendered = await pool.run(render_variants, data, tuple(widths), max_pixels)
    except JobFailed as exc:
        if isinstance(exc.__cause__, ImageError):
            raise ImageError(exc.__cause__.reason, exc.__cause__.detail) from exc
        if exc.kind == "timeout":
            raise ImageError("timeout", exc.reason) from exc
        raise ImageError("worker_failed", exc.reason) from exc
    await folder.mkdir(parents=True, exist_ok=True)
    variants = []
    for v in rendered.variants:
        name = f"{digest}_{v.width}.webp"
        await _write_atomic(folder / name, v.data)
        path = f"images/{digest[:2]}/{name}"
        variants.append(ImageVariant(v.width, v.height, path, len(v.data)))
    result = ImageResult(
        source_url=url,
        content_hash=digest,
        variants=tuple(variants),
        blurhash=rendered.blurhash,
        phash=rendered.phash,
        width=rendered.width,
        height=rendered.height,
    )
    await _write_atomic(manifest, json.dumps(_manifest(result), sort_keys=True).encode())
    return result


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _write_atomic(path: trio.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        await tmp.write_bytes(data)
        await tmp.replace(path)
    finally:
        with trio.CancelScope(shield=True):
            await tmp.unlink(missing_ok=True)


def _manifest(result: ImageResult) -> dict[str, Any]:
    return {
        "content_hash": result.content_hash,
        "width": result.width,
        "height": result.height,
        "blurhash": result.blurhash,
        "phash": result.phash,
        "variants": [attrs.asdict(v) for v in result.variants],
    }


async def _read_manifest(
    manifest: trio.Path, media_dir: Path, url: str, digest: str
) -> ImageResult | None:
    """The stored result if the manifest and every variant file it names exist."""
    try:
        doc = json.loads(await manifest.read_bytes())
        variants = tuple(
            ImageVariant(int(v["width"]), int(v["height"]), str(v["path"]), int(v["bytes"]))
            for v in doc["variants"]
        )
        result = ImageResult(
            source_url=url,
            content_hash=digest,
            variants=variants,
            blurhash=str(doc["blurhash"]),
            phash=str(doc["phash"]),
            width=int(doc["width"]),
            height=int(doc["height"]),
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # unreadable manifest: render again and overwrite it
    for v in variants:
        if not await (trio.Path(media_dir) / v.path).is_file():
            return None
    return result
