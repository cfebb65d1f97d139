"""A log for long-running local mode: counts everything appended, keeps only the most recent entries.

`python -m local up` runs for hours; a list that grows with every e-mail or alarm transition grows its memory with
it. A `RecentLog` keeps the last `keep` entries and the total count, which is all the readers need: counters show
`len(log)` (every entry ever appended), views copy new entries with `since(position)`, summaries iterate the recent
ones. Thread-safe: one thread appends while others read.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RecentLog(Generic[T]):
    """The last `keep` entries appended, and how many were appended in total.

    `len(log)` is the total ever appended (what a counter shows); iterating gives the retained entries, oldest first.
    """

    def __init__(self, keep: int) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.keep = keep
        self._entries: deque[T] = deque(maxlen=keep)
        self._total = 0
        self._lock = threading.Lock()

    def append(self, entry: T) -> None:
        with self._lock:
            self._entries.append(entry)
            self._total += 1

    @property
    def total(self) -> int:
        return self._total

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[T]:
        return iter(self.recent())

    def recent(self) -> list[T]:
        """The retained entries, oldest first (a copy: safe to use while another thread appends)."""
        with self._lock:
            return list(self._entries)

    def since(self, position: int) -> tuple[list[T], int]:
        """Entries appended after the first `position` ones that are still retained, and the position after them.

        A reader that fell more than `keep` entries behind gets the retained ones: the older ones are gone.
        """
        with self._lock:
            total = self._total
            missing = max(0, total - max(0, position))
            entries = list(self._entries)
            return entries[len(entries) - min(missing, len(entries)) :], total
