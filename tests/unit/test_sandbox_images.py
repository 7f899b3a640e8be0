"""The sandbox's placeholder JPEGs: well-formed, sized as asked, deterministic."""

from __future__ import annotations

import pytest

from scenescout_cli.sandbox.images import image_for, jpeg


def test_jpegs_are_well_formed_with_the_asked_size() -> None:
    """SOI..EOI, a baseline SOF0 carrying the size, and the same bytes every time."""
    body = image_for("vvG1zZ9xYkQ1Ab_16_9_1136x639.jpg")
    assert body is not None
    assert body[:2] == b"\xff\xd8"
    assert body[-2:] == b"\xff\xd9"
    sof = body.index(b"\xff\xc0")
    assert int.from_bytes(body[sof + 5 : sof + 7], "big") == 639
    assert int.from_bytes(body[sof + 7 : sof + 9], "big") == 1136
    assert image_for("vvG1zZ9xYkQ1Ab_16_9_1136x639.jpg") == body
    assert image_for("other_16_9_1136x639.jpg") != body
    assert image_for("nope.png") is None
    assert image_for("huge_99999x2.jpg") is None
    with pytest.raises(ValueError, match="sides"):
        jpeg(0, 10, (0, 0, 0), (0, 0, 0))
