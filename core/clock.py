"""One clock for everything that decides by time (timers, escalations, token expiry, sessions).

Production uses the system clock. Tests swap in a `ManualClock` and move time forward instead of
sleeping (as GoAlert fast-forwards its database clock in its smoke tests), so "nobody acknowledged
within five minutes" is a test of seconds, and a DST change can be reached on purpose.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; thread-safe, for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)


class OffsetFileClock:
    """The system clock plus a number of seconds read from a file: how a test moves the time of real
    processes (beat, worker, HTTP) forward together without a sleep. A missing or empty file is 0.

    The file is read again only when its modification time changes, so `now()` stays cheap.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: int | None = None
        self._offset = timedelta(0)

    def _read_offset(self) -> timedelta:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return timedelta(0)
        with self._lock:
            if mtime != self._seen:
                text = self.path.read_text().strip()
                self._offset = timedelta(seconds=float(text)) if text else timedelta(0)
                self._seen = mtime
            return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._read_offset()

    def set_offset(self, seconds: float) -> None:
        """Write a new offset (the test side); every process reading the file follows."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{seconds}\n")
        tmp.replace(self.path)


def clock_for(offset_file: Path | None) -> Clock:
    """The process's clock: the system clock, or the offset-file clock a test asked for."""
    return OffsetFileClock(offset_file) if offset_file is not None else SystemClock()
