"""Deterministic placeholder images the sandbox serves for every provider's image URLs.

``GET /img/{provider}/{name}_{W}x{H}.jpg`` (any name; the size is read from the end)
returns a valid baseline JPEG of exactly WxH pixels: two horizontal bands whose colours
are a hash of the name, so each event's image differs from the next while the same URL
always returns the same bytes. No imaging library is needed: every 8x8 block is a flat
colour, so the entropy-coded data is only DC differences and end-of-block codes.
"""

from __future__ import annotations

import functools
import hashlib
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["MAX_SIDE", "image_for", "jpeg", "routes"]

MAX_SIDE = 4096
_NAME = re.compile(r"^[A-Za-z0-9_.-]+_(?P<w>\d{1,5})x(?P<h>\d{1,5})\.jpe?g$")

# The standard luminance DC table (ITU T.81, K.3), used for all three components.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# A one-symbol AC table: every block is flat, so end-of-block (0x00) is the only symbol.
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0,)


def _canonical_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, str]:
    """Huffman codes (as bit strings) for a JPEG BITS/HUFFVAL table."""
    codes: dict[int, str] = {}
    code, k = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[k]] = format(code, f"0{length}b")
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _canonical_codes(_DC_BITS, _DC_VALUES)
_EOB = _canonical_codes(_AC_BITS, _AC_VALUES)[0]


def _dc_bits(diff: int) -> str:
    """The Huffman-coded DC difference of one block (category code + magnitude bits)."""
    size = abs(diff).bit_length()
    if size == 0:
        return _DC_CODES[0]
    magnitude = diff if diff > 0 else diff + (1 << size) - 1
    return _DC_CODES[size] + format(magnitude, f"0{size}b")


def _ycbcr_dc(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The DC coefficients (quantiser 1) of a flat block of colour ``rgb``."""
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(round(8 * (c - 128)) for c in (y, cb, cr))  # type: ignore[return-value]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


@functools.lru_cache(maxsize=512)
def jpeg(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> bytes:
    """A baseline JPEG of ``width`` x ``height``: colour ``top`` above ``bottom``.

    Raises ValueError for sides outside 1..MAX_SIDE.
    """
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"image sides must be within 1..{MAX_SIDE}, got {width}x{height}")
    blocks_w, blocks_h = -(-width // 8), -(-height // 8)
    split = max(1, blocks_h // 2) if blocks_h > 1 else blocks_h
    bands = [(top, split * blocks_w), (bottom, (blocks_h - split) * blocks_w)]
    flat = (_DC_CODES[0] + _EOB) * 3  # one MCU whose three blocks repeat the previous colour
    parts: list[str] = []
    previous = (0, 0, 0)
    for colour, count in bands:
        if count == 0:
            continue
        dc = _ycbcr_dc(colour)
        parts.extend(
            _dc_bits(now - before) + _EOB for now, before in zip(dc, previous, strict=True)
        )
        parts.append(flat * (count - 1))
        previous = dc
    stream = "".join(parts)
    stream += "1" * (-len(stream) % 8)  # pad the last byte with 1-bits (T.81 F.1.2.3)
    data = int(stream, 2).to_bytes(len(stream) // 8, "big") if stream else b""
    data = data.replace(b"\xff", b"\xff\x00")  # byte stuffing

    components = b"".join(bytes((cid, 0x11, 0)) for cid in (1, 2, 3))
    return b"".join(
        (
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + b"\x01" * 64),
            _segment(
                0xC0,
                b"\x08"
                + height.to_bytes(2, "big")
                + width.to_bytes(2, "big")
                + b"\x03"
                + components,
            ),
            _segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES)),
            _segment(0xC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALUES)),
            _segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"),
            data,
            b"\xff\xd9",
        )
    )


def _colours(name: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.blake2b(name.encode(), digest_size=6).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def image_for(name: str) -> bytes | None:
    """The JPEG for an image file name ``..._{W}x{H}.jpg``, or None if it names none."""
    match = _NAME.match(name)
    if match is None:
        return None
    width, height = int(match["w"]), int(match["h"])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        return None
    top, bottom = _colours(name)
    return jpeg(width, height, top, bottom)


async def _image(request: Request) -> Response:
    body = image_for(request.path_params["name"])
    if body is None:
        return Response(b"not found", status_code=404, media_type="text/plain")
    return Response(
        body,
        media_type="image/jpeg",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def routes() -> list[Route]:
    """The image route, shared by every provider: ``/img/{provider}/{name}``."""
    return [Route("/img/{provider}/{name}", _image, methods=["GET"])]
