"""Adaptive concurrency for LLM requests: additive increase, multiplicative decrease (AIMD).

``AimdPolicy`` is the pure bookkeeping (no clock, no asyncio; the caller passes ``now``):

- ``limit`` requests may be in flight; it starts at ``initial`` (clamped to ``[floor, ceiling]``).
- A rate-limited answer (HTTP 429) cuts ``limit`` to ``max(floor, int(limit * decrease_factor))``
  and pauses new starts until ``now + retry_after_s`` (capped at ``max_pause_s``). Only a request
  started after the last cut can cut again, so a burst of 429s from one overfull window is one
  cut, not one per request (the "once per window" rule of TCP congestion control).
- A clean answer to a request started while the window was full counts towards growth; after
  ``limit`` such answers in a row (about one round trip at full load) ``limit`` grows by 1, up to
  ``ceiling``. Answers while demand is below the limit do not grow it. With ``slow_start``
  (default), until the first cut each such answer grows it by 1 (doubling per round trip), so a
  run finds the provider's limit in a few round trips instead of one step per round trip.
- Other failures (timeouts, 5xx, rejected content) neither grow nor cut.

With ``adaptive=False`` the limit stays at ``ceiling`` and nothing pauses: a fixed semaphore.

``AdaptiveLimiter`` runs a policy inside one asyncio event loop: ``await acquire()`` waits (FIFO)
for a free slot and the end of any pause, ``release(ticket, outcome, retry_after_s)`` returns it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from dataclasses import dataclass

CLEAN = "clean"
RATE_LIMITED = "rate_limited"
OTHER = "other"
OUTCOMES = (CLEAN, RATE_LIMITED, OTHER)


@dataclass(frozen=True)
class Ticket:
    """One started request: the window ``epoch`` it started in, and whether the window was full."""

    epoch: int
    saturated: bool


class AimdPolicy:
    """AIMD bookkeeping of allowed in-flight requests (see the module docstring)."""

    def __init__(
        self,
        initial: int,
        ceiling: int,
        *,
        floor: int = 1,
        decrease_factor: float = 0.5,
        max_pause_s: float = 60.0,
        adaptive: bool = True,
        slow_start: bool = True,
    ) -> None:
        if floor < 1 or ceiling < floor:
            raise ValueError(f"need 1 <= floor <= ceiling, got floor={floor}, ceiling={ceiling}")
        if not 0.0 < decrease_factor < 1.0:
            raise ValueError(f"decrease_factor must be in (0, 1), got {decrease_factor}")
        if max_pause_s < 0:
            raise ValueError(f"max_pause_s must be >= 0, got {max_pause_s}")
        self.floor = floor
        self.ceiling = ceiling
        self.decrease_factor = decrease_factor
        self.max_pause_s = max_pause_s
        self.adaptive = adaptive
        self.slow_start = slow_start
        self.limit = min(ceiling, max(floor, initial)) if adaptive else ceiling
        self.in_flight = 0
        self.paused_until = -math.inf
        self.epoch = 0
        self.cuts = 0
        self.increases = 0
        self._clean_run = 0

    def can_start(self, now: float) -> bool:
        return self.in_flight < self.limit and now >= self.paused_until

    def pause_left(self, now: float) -> float:
        """Seconds until new requests may start again (0 when not paused)."""
        return max(0.0, self.paused_until - now)

    def start(self) -> Ticket:
        """Record a started request (call only when ``can_start``)."""
        self.in_flight += 1
        return Ticket(self.epoch, self.in_flight >= self.limit)

    def finish(self, ticket: Ticket, outcome: str, now: float, retry_after_s: float | None = None) -> None:
        """Record the end of a request: ``"clean"``, ``"rate_limited"`` or ``"other"``."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.in_flight = max(0, self.in_flight - 1)
        if not self.adaptive:
            return
        if outcome == RATE_LIMITED:
            if retry_after_s is not None and retry_after_s > 0:
                self.paused_until = max(self.paused_until, now + min(retry_after_s, self.max_pause_s))
            if ticket.epoch == self.epoch:
                self.limit = max(self.floor, int(self.limit * self.decrease_factor))
                self.epoch += 1
                self.cuts += 1
                self._clean_run = 0
        elif outcome == CLEAN and ticket.saturated:
            self._clean_run += 1
            if self._clean_run >= (1 if self.slow_start and self.cuts == 0 else self.limit):
                self._clean_run = 0
                if self.limit < self.ceiling:
                    self.limit += 1
                    self.increases += 1


class AdaptiveLimiter:
    """An ``AimdPolicy`` driven by one asyncio event loop: FIFO waiters, a timer for pauses.

    Create and use it on the loop's thread only. ``release`` is synchronous, so it can be called
    from ``finally`` blocks, also of cancelled tasks.
    """

    def __init__(self, policy: AimdPolicy) -> None:
        self.policy = policy
        self._waiters: collections.deque[asyncio.Future[Ticket]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = -math.inf
        self.rate_limited = 0

    @property
    def limit(self) -> int:
        return self.policy.limit

    @property
    def in_flight(self) -> int:
        return self.policy.in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> Ticket:
        loop = asyncio.get_running_loop()
        if not self._waiters and self.policy.can_start(loop.time()):
            return self.policy.start()
        future: asyncio.Future[Ticket] = loop.create_future()
        self._waiters.append(future)
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Handed a slot just as the waiter was cancelled: give it back.
                self.release(future.result(), OTHER)
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
                self._dispatch()
            raise

    def release(self, ticket: Ticket, outcome: str, retry_after_s: float | None = None) -> None:
        if outcome == RATE_LIMITED:
            self.rate_limited += 1
        self.policy.finish(ticket, outcome, asyncio.get_running_loop().time(), retry_after_s)
        self._dispatch()

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiters and self.policy.can_start(now):
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(self.policy.start())
        if self._waiters and self.policy.in_flight < self.policy.limit:
            # Blocked by a pause only: wake up when it ends.
            wake_at = self.policy.paused_until
            if self._timer is None or self._timer_at < wake_at:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer_at = wake_at
                self._timer = loop.call_at(wake_at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = -math.inf
        self._dispatch()
