"""The client's answer-anchored gate: request k+N waits for request k's answer plus one
window, so a late arrival of request k can never put N+1 requests in one server window."""

from __future__ import annotations

import asyncio
import time

from enrichment.adapters.openfigi import AnswerAnchoredGate
from secmaster_common.limiter import WindowLimiter


async def test_third_request_waits_for_first_answer_plus_window() -> None:
    gate = AnswerAnchoredGate(2, 0.2)
    started = time.monotonic()
    first = await gate.enter()
    await gate.enter()
    third = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.15)
    assert not third.done()  # the first request is still unanswered
    AnswerAnchoredGate.answered(first)
    answered_at = time.monotonic()
    await third
    assert time.monotonic() - answered_at >= 0.2
    assert time.monotonic() - started >= 0.35


def test_gate_takes_the_limiters_own_window() -> None:
    gate = AnswerAnchoredGate.matching(WindowLimiter(25, 6.0, margin_s=0.1))
    assert gate is not None
    assert (gate.max_calls, gate.window_s, gate.margin_s) == (25, 6.0, 0.1)

    class BareLimiter:
        async def acquire(self) -> None:
            return None

    assert AnswerAnchoredGate.matching(BareLimiter()) is None
