"""LeadBatcher on its own: who is batched with whom, and whose error is whose.

A recording ``score_many`` stands in for the model here (the batcher is generic); the real scoring path
through it is checked in tests/integration/test_service_micro_batch.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from leadscore.serving.batcher import LeadBatcher


class Recorder:
    """Scores (lead id, model) pairs as {"lead": id}; a lead id starting with "bad" breaks its batch."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, leads: Sequence[str], contexts: Sequence[str]) -> list[dict[str, Any]]:
        self.calls.append(list(leads))
        if any(lead.startswith("bad") for lead in leads):
            raise ValueError(f"cannot score {[lead for lead in leads if lead.startswith('bad')]}")
        return [{"lead": lead, "model": model} for lead, model in zip(leads, contexts, strict=True)]


def batcher(recorder: Recorder, max_batch: int = 32) -> LeadBatcher[str, str]:
    return LeadBatcher(
        recorder, lead_id=lambda lead: lead.removesuffix("'"), model_of=lambda m: m, max_batch=max_batch
    )


async def gather(b: LeadBatcher[str, str], pairs: list[tuple[str, str]]) -> list[Any]:
    return await asyncio.gather(*(b.score(lead, model) for lead, model in pairs), return_exceptions=True)


def test_requests_of_one_loop_turn_are_scored_together_and_answered_in_order() -> None:
    recorder = Recorder()
    b = batcher(recorder)
    results = asyncio.run(gather(b, [(f"L{i}", "m") for i in range(5)]))
    assert recorder.calls == [["L0", "L1", "L2", "L3", "L4"]]
    assert [r["lead"] for r in results] == ["L0", "L1", "L2", "L3", "L4"]
    assert (b.batches, b.leads) == (1, 5)


def test_one_request_at_a_time_is_a_batch_of_one() -> None:
    recorder = Recorder()
    b = batcher(recorder)

    async def one_by_one() -> list[Any]:
        return [await b.score(f"L{i}", "m") for i in range(3)]

    assert [r["lead"] for r in asyncio.run(one_by_one())] == ["L0", "L1", "L2"]
    assert recorder.calls == [["L0"], ["L1"], ["L2"]]


def test_a_repeated_lead_id_or_another_model_starts_a_new_batch() -> None:
    recorder = Recorder()
    results = asyncio.run(gather(batcher(recorder), [("A", "m1"), ("B", "m1"), ("A'", "m1"), ("C", "m2")]))
    # "A'" has A's id (its activities would be merged with A's); C is scored by another model object.
    assert recorder.calls == [["A", "B"], ["A'"], ["C"]]
    assert [(r["lead"], r["model"]) for r in results] == [("A", "m1"), ("B", "m1"), ("A'", "m1"), ("C", "m2")]


def test_a_lead_that_breaks_its_batch_fails_alone() -> None:
    recorder = Recorder()
    results = asyncio.run(gather(batcher(recorder), [("L1", "m"), ("bad-2", "m"), ("L3", "m")]))
    assert recorder.calls == [["L1", "bad-2", "L3"], ["L1"], ["bad-2"], ["L3"]]
    assert results[0]["lead"] == "L1"
    assert isinstance(results[1], ValueError)
    assert "bad-2" in str(results[1])
    assert results[2]["lead"] == "L3"


def test_a_full_batch_is_scored_at_once() -> None:
    recorder = Recorder()
    results = asyncio.run(gather(batcher(recorder, max_batch=2), [(f"L{i}", "m") for i in range(5)]))
    assert recorder.calls == [["L0", "L1"], ["L2", "L3"], ["L4"]]
    assert [r["lead"] for r in results] == [f"L{i}" for i in range(5)]


def test_a_cancelled_request_does_not_break_the_others() -> None:
    recorder = Recorder()
    b = batcher(recorder)

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(b.score(f"L{i}", "m")) for i in range(3)]
        await asyncio.sleep(0)  # every task is now waiting on its future, the flush is scheduled
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert recorder.calls == [["L0", "L1", "L2"]]
    assert results[0]["lead"] == "L0"
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[2]["lead"] == "L2"


def test_a_batch_error_with_a_single_lead_is_that_requests_error() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="bad-1"):
        asyncio.run(batcher(recorder).score("bad-1", "m"))
    assert recorder.calls == [["bad-1"]]
