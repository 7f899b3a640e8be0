"""Rendering event images: the job the worker pool runs (``render_variants``), its
result, ``ImageError`` and the perceptual hash. ``images`` is the crawl's side (fetch,
pool, files) and re-exports all of this.

A pool worker imports this module to run the job, and what it imports is CPU taken
from the crawl: it imports Pillow and blurhash, not Trio or httpx (~0.12 s of CPU a worker;
``tests/integration/test_workers_real.py`` checks it).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence

import attrs
import blurhash
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..errors import ScenescoutError

DEFAULT_WIDTHS = (320, 640, 1280)
MAX_PIXELS = 40_000_000
WEBP_QUALITY = 80


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
