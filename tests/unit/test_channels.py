"""pipeline/channels.py: sends and receives that wait only when they must."""

from __future__ import annotations

import pytest
import trio

from scenescout_cli.pipeline.channels import put, take_buffered


async def test_put_does_not_yield_while_the_channel_has_room() -> None:
    """With room, ``put`` neither checkpoints nor sees a cancellation: the items are in
    the channel at once, in order."""
    send, receive = trio.open_memory_channel[int](2)
    async with send, receive:
        with trio.CancelScope() as scope:
            scope.cancel()  # any checkpoint inside would raise Cancelled
            await put(send, 1)
            await put(send, 2)
        assert not scope.cancelled_caught
        assert [receive.receive_nowait(), receive.receive_nowait()] == [1, 2]


async def test_put_waits_while_the_channel_is_full(autojump_clock: trio.abc.Clock) -> None:
    """Full, ``put`` waits for room like ``send`` (cancellable while it waits) and
    sends once a receiver takes an item."""
    send, receive = trio.open_memory_channel[int](1)
    async with send, receive:
        await put(send, 1)
        with trio.move_on_after(5) as waited:
            await put(send, 2)
        assert waited.cancelled_caught  # nothing made room
        async with trio.open_nursery() as nursery:
            nursery.start_soon(put, send, 3)
            await trio.sleep(1)
            assert receive.receive_nowait() == 1  # room: the waiting put goes on
        assert receive.receive_nowait() == 3


async def test_put_to_a_closed_receiver_raises_as_send_does() -> None:
    send, receive = trio.open_memory_channel[int](1)
    await receive.aclose()
    async with send:
        with pytest.raises(trio.BrokenResourceError):
            await put(send, 1)


async def test_take_buffered_takes_what_is_there_up_to_the_limit() -> None:
    """It moves buffered items in order until ``into`` holds ``up_to``, and says False
    once every sender has closed and the buffer is empty."""
    send, receive = trio.open_memory_channel[int](10)
    async with receive:
        for n in range(5):
            send.send_nowait(n)
        got = [-1]
        assert take_buffered(receive, got, 4) is True
        assert got == [-1, 0, 1, 2]
        assert take_buffered(receive, got, 100) is True  # empty, senders open
        assert got == [-1, 0, 1, 2, 3, 4]
        send.send_nowait(5)
        await send.aclose()
        assert take_buffered(receive, got, 100) is False  # drained, then ended
        assert got[-1] == 5
