"""Event images: fetch safely, render WebP variants in the worker pool, store by content.

    result = await process_image(url, http=http, pool=pool, media_dir=settings.media_dir,
                                 allow_private=settings.allow_private_network)

Three layers, each usable alone:

``fetch_image`` (Trio thread, I/O)
    GET through the SSRF guard (``netguard``: every redirect hop vetted), ``image/*``
    content types only, a byte cap on the declared and the streamed size, one deadline
    for the whole download.
``render_variants`` (a pure, top-level function for the worker pool, in ``render``)
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
import json
import os
import secrets
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import httpx
import trio

from ..workers import JobFailed, WorkerPool
from .netguard import UnsafeUrl, guarded_stream
from .render import (
    DEFAULT_WIDTHS,
    MAX_PIXELS,
    WEBP_QUALITY,
    ImageError,
    RenderedImage,
    RenderedVariant,
    hamming,
    phash,
    render_variants,
)

__all__ = [
    "DEFAULT_WIDTHS",
    "FETCH_SECONDS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "WEBP_QUALITY",
    "ImageError",
    "ImageResult",
    "ImageVariant",
    "RenderedImage",
    "RenderedVariant",
    "fetch_image",
    "hamming",
    "phash",
    "process_image",
    "render_variants",
]

MAX_BYTES = 10_000_000
FETCH_SECONDS = 15.0

_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8"
# Content types that say "image" but are not raster pictures Pillow should decode.
_REFUSED_TYPES = ("image/svg+xml",)


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
