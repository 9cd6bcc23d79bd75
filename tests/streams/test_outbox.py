"""The outbox: outputs stay in the member's state until Kafka acknowledged them."""

from __future__ import annotations

import asyncio

from streams.outbox import Outbox, Output, pack, unpack


def outputs(n: int) -> list[Output]:
    return [
        Output("labels", f"m{i}".encode(), f'{{"i": {i}}}'.encode(), 1000 + i) for i in range(n)
    ]


def test_the_state_and_its_outbox_round_trip():
    state = bytes(range(256))  # any bytes, a length prefix keeps them apart
    assert unpack(pack(state, outputs(3))) == (state, outputs(3))
    assert unpack(pack(b"", [])) == (b"", [])


def test_an_output_leaves_the_outbox_once_acknowledged_or_found_on_the_topic():
    async def scenario() -> list[list[Output]]:
        loop = asyncio.get_running_loop()
        acked, waiting, failed = (loop.create_future() for _ in range(3))
        acked.set_result(None)
        failed.set_exception(RuntimeError("broker gone"))
        outbox = Outbox()
        a, b, c, d, recovered = outputs(5)
        for output, future in ((a, acked), (b, waiting), (c, failed), (d, None)):
            outbox.track(output, future)
        first = outbox.unacknowledged([a, b, c, d, recovered])
        waiting.set_result(None)
        return [first, outbox.unacknowledged(first)]

    _, b, c, _, recovered = outputs(5)
    first, later = asyncio.run(scenario())
    assert first == [b, c, recovered], "waiting, failed, and not reconciled yet stay"
    assert later == [c, recovered]


def test_each_partition_is_reconciled_once_per_assignment():
    outbox = Outbox()
    outbox.track(outputs(1)[0], None)
    assert [outbox.first_since_assignment(p) for p in (0, 1, 0, 1)] == [True, True, False, False]
    outbox.reset()
    assert outbox.first_since_assignment(0)
    assert outbox.unacknowledged(outputs(1)) == outputs(1), "tracking starts over"
