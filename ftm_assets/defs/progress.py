"""One live progress line for a firm run executed in this process (``ftm demo``).

Dagster's console logger prints every event (hundreds of DEBUG lines for a 122-firm quarter). The
CLI turns it down to warnings and shows this line instead, read from the same event log the UI
reads, so the full log stays in the run (and on the console with ``ftm -v``):

    firms 37/122 (30 done, 5 skipped, 2 failed)  4.1 firms/s  ETA 21 s

A firm counts once its ``topic_summaries`` report is written (with event batching: in batches of
up to 100 firms, or every 5 seconds); a failed firm once the op logs its error.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

import dagster as dg

from ftm_assets.defs.asset_keys import TOPIC_SUMMARIES
from ftm_assets.stages.firm_stats import FirmMetadata


@dataclass
class FirmCounts:
    done: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


def format_progress(counts: FirmCounts, total: int, elapsed: float) -> str:
    """``firms 37/122 (30 done, 5 skipped, 2 failed)  4.1 firms/s  ETA 21 s``"""
    rate = counts.finished / elapsed if elapsed > 0 else 0.0
    line = (f"firms {counts.finished}/{total} ({counts.done} done, {counts.skipped} skipped, "
            f"{counts.failed} failed)  {rate:.1f} firms/s")
    if 0 < counts.finished < total and rate > 0:
        line += f"  ETA {(total - counts.finished) / rate:.0f} s"
    return line


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).upper())
    return value if isinstance(value, int) else logging.INFO


class FirmRunProgress:
    """Counts a firm run's finished firms from ``instance``'s event log and redraws one line on
    ``out`` (in place on a terminal; elsewhere a new line at most every ``every_s`` seconds)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, total: int, out: TextIO | None = None,
                 every_s: float = 10.0) -> None:
        self.instance = instance
        self.run_id = run_id
        self.total = total
        self.out = out or sys.stderr
        self.every_s = every_s
        self.counts = FirmCounts()
        self._cursor: str | None = None
        self._started = time.monotonic()
        self._last_line = ""
        self._last_print = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> FirmCounts:
        """Read the run's new events and update :attr:`counts`."""
        conn = self.instance.get_records_for_run(self.run_id, cursor=self._cursor)
        for record in conn.records:
            entry = record.event_log_entry
            mat = entry.asset_materialization
            if mat is not None and mat.asset_key == TOPIC_SUMMARIES:
                meta = mat.metadata
                if FirmMetadata.HAS_CALL in meta and not meta[FirmMetadata.HAS_CALL].value:
                    continue
                status = meta[FirmMetadata.STATUS].value if FirmMetadata.STATUS in meta else FirmMetadata.COMPUTED
                if status == FirmMetadata.SKIPPED_STATUS:
                    self.counts.skipped += 1
                else:
                    self.counts.done += 1
            elif entry.dagster_event is None and _level(entry.level) >= logging.ERROR \
                    and entry.user_message.startswith("firm "):
                self.counts.failed += 1
        if conn.cursor:
            self._cursor = conn.cursor
        return self.counts

    def line(self) -> str:
        return format_progress(self.counts, self.total, time.monotonic() - self._started)

    def _draw(self, final: bool = False) -> None:
        line = self.line()
        if self.out.isatty():
            self.out.write("\r" + line.ljust(len(self._last_line)) + ("\n" if final else ""))
        elif final or (line != self._last_line and time.monotonic() - self._last_print >= self.every_s):
            self.out.write(line + "\n")
            self._last_print = time.monotonic()
        self.out.flush()
        self._last_line = line

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.poll()
            except Exception:  # the event log is busy or the run not created yet: try again next time
                continue
            self._draw()

    def __enter__(self) -> FirmRunProgress:
        self._thread = threading.Thread(target=self._loop, args=(0.5,), name="ftm-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
        self._draw(final=True)
