"""AIMD concurrency: the pure policy (explicit clock) and its asyncio driver, without HTTP."""

from __future__ import annotations

import asyncio

import pytest

from ftm_assets.llm.limiter import CLEAN, OTHER, RATE_LIMITED, AdaptiveLimiter, AimdPolicy


def start_n(policy: AimdPolicy, n: int, now: float = 0.0) -> list:
    tickets = []
    for _ in range(n):
        assert policy.can_start(now)
        tickets.append(policy.start())
    return tickets


def test_initial_limit_is_clamped_and_caps_starts() -> None:
    assert AimdPolicy(8, 64).limit == 8
    assert AimdPolicy(8, 3).limit == 3
    assert AimdPolicy(0, 3).limit == 1
    policy = AimdPolicy(2, 10)
    start_n(policy, 2)
    assert not policy.can_start(0.0) and policy.in_flight == 2


def test_a_burst_of_429s_from_one_window_cuts_once() -> None:
    policy = AimdPolicy(8, 64)
    tickets = start_n(policy, 8)
    for ticket in tickets:
        policy.finish(ticket, RATE_LIMITED, now=10.0, retry_after_s=None)
    assert policy.limit == 4 and policy.cuts == 1 and policy.in_flight == 0


def test_429s_of_later_windows_cut_again_down_to_the_floor() -> None:
    policy = AimdPolicy(8, 64)
    limits = []
    for _ in range(5):
        [ticket] = start_n(policy, 1)
        policy.finish(ticket, RATE_LIMITED, now=0.0)
        limits.append(policy.limit)
    assert limits == [4, 2, 1, 1, 1]
    assert AimdPolicy(9, 64, floor=3, decrease_factor=0.5).floor == 3


def test_retry_after_pauses_new_starts_capped_at_max_pause() -> None:
    policy = AimdPolicy(8, 64, max_pause_s=5.0)
    [first, second] = start_n(policy, 2, now=100.0)
    policy.finish(first, RATE_LIMITED, now=100.0, retry_after_s=2.0)
    assert not policy.can_start(101.9) and policy.pause_left(101.0) == pytest.approx(1.0)
    assert policy.can_start(102.0)
    policy.finish(second, RATE_LIMITED, now=100.0, retry_after_s=3600.0)  # same window: no second cut
    assert policy.limit == 4 and policy.paused_until == 105.0
    assert not policy.can_start(104.99) and policy.can_start(105.0)


def full_load(policy: AimdPolicy, answers: int) -> list[int]:
    """Keep the window full: each clean answer is replaced at once; the limit after each answer."""
    tickets = start_n(policy, policy.limit)
    limits = []
    for _ in range(answers):
        policy.finish(tickets.pop(0), CLEAN, now=0.0)
        while policy.can_start(0.0):
            tickets.append(policy.start())
        limits.append(policy.limit)
    return limits


def test_clean_answers_at_full_load_grow_the_limit_by_one_up_to_the_ceiling() -> None:
    policy = AimdPolicy(3, 5, slow_start=False)
    limits = full_load(policy, 40)
    assert limits[0] == 3 and limits[-1] == 5 and max(limits) == 5
    assert all(b - a in (0, 1) for a, b in zip(limits, limits[1:], strict=False))
    # About one step per window: 3 -> 4 needs 3 saturated answers, 4 -> 5 four more.
    assert limits.index(4) < limits.index(5) <= 3 + 4 + 3
    assert policy.increases == 2


def test_slow_start_grows_per_answer_until_the_first_cut() -> None:
    slow, additive = AimdPolicy(4, 64), AimdPolicy(4, 64, slow_start=False)
    assert full_load(slow, 12)[-1] >= 8  # a step per saturated answer: doubles in about a window
    assert full_load(additive, 12)[-1] <= 6  # a step per window of saturated answers
    # After a cut, growth is additive again.
    cut = AimdPolicy(8, 64)
    cut.finish(cut.start(), RATE_LIMITED, now=0.0)
    assert cut.limit == 4 and cut.in_flight == 0
    assert max(full_load(cut, 8)) == 5


def test_growth_needs_a_run_of_saturated_clean_answers() -> None:
    policy = AimdPolicy(4, 10, slow_start=False)
    # Demand below the limit: one request at a time never grows it.
    for _ in range(50):
        policy.finish(policy.start(), CLEAN, now=0.0)
    assert policy.limit == 4
    # Full windows: each completion is replaced at once, so every start after the first fill is
    # saturated; the fill's first three are not, so 4 + 4 answers make the 4 saturated ones needed.
    tickets = start_n(policy, 4)
    for _ in range(8):
        policy.finish(tickets.pop(0), CLEAN, now=0.0)
        tickets.append(policy.start())
    assert policy.limit == 5
    # Other failures neither grow nor cut.
    policy.finish(tickets.pop(0), OTHER, now=0.0)
    assert policy.limit == 5 and policy.cuts == 0


def test_fixed_policy_never_adapts_or_pauses() -> None:
    policy = AimdPolicy(8, 8, adaptive=False)
    tickets = start_n(policy, 8)
    for ticket in tickets:
        policy.finish(ticket, RATE_LIMITED, now=0.0, retry_after_s=30.0)
    assert policy.limit == 8 and policy.can_start(0.0)
    assert AimdPolicy(1, 16, adaptive=False).limit == 16


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="floor"):
        AimdPolicy(1, 0)
    with pytest.raises(ValueError, match="decrease_factor"):
        AimdPolicy(4, 8, decrease_factor=1.0)
    with pytest.raises(ValueError, match="outcome"):
        AimdPolicy(4, 8).finish(AimdPolicy(4, 8).start(), "teapot", now=0.0)


def test_limiter_hands_slots_out_in_order_and_honours_the_limit() -> None:
    async def scenario() -> tuple[list[int], int]:
        limiter = AdaptiveLimiter(AimdPolicy(2, 2))
        order: list[int] = []
        peak = 0

        async def worker(i: int) -> None:
            nonlocal peak
            ticket = await limiter.acquire()
            order.append(i)
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0)
            limiter.release(ticket, CLEAN)

        await asyncio.gather(*(worker(i) for i in range(10)))
        assert limiter.in_flight == 0 and limiter.waiting == 0
        return order, peak

    order, peak = asyncio.run(scenario())
    assert order == list(range(10))
    assert peak == 2


def test_limiter_waits_out_a_pause_before_the_next_start() -> None:
    async def scenario() -> tuple[float, float]:
        limiter = AdaptiveLimiter(AimdPolicy(4, 8, max_pause_s=5.0))
        loop = asyncio.get_running_loop()
        ticket = await limiter.acquire()
        limiter.release(ticket, RATE_LIMITED, retry_after_s=0.05)
        paused_until = limiter.policy.paused_until
        assert limiter.limit == 2 and limiter.rate_limited == 1
        ticket = await asyncio.wait_for(limiter.acquire(), timeout=10)
        started = loop.time()
        limiter.release(ticket, CLEAN)
        return started, paused_until

    started, paused_until = asyncio.run(scenario())
    assert started >= paused_until


def test_a_cancelled_waiter_gives_its_place_up() -> None:
    async def scenario() -> int:
        limiter = AdaptiveLimiter(AimdPolicy(1, 1))
        held = await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert limiter.waiting == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limiter.waiting == 0
        limiter.release(held, CLEAN)
        again = await asyncio.wait_for(limiter.acquire(), timeout=10)
        limiter.release(again, CLEAN)
        return limiter.in_flight

    assert asyncio.run(scenario()) == 0
