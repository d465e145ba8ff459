"""Per-(exchange, symbol) trade-id sequence checks: gaps and duplicates, vectorised.

Venues that number their trades (Binance, Coinbase, ...) publish ids in increasing order per
symbol, so a jump means trades the feed never delivered (reported, since the warm load of the
vendor file will have them) and an id at or below the highest seen is a replay of one already
sent (dropped, so a reconnecting exchange socket cannot double-count volume). Ids that are not
integers (UUIDs on some venues) are passed through unchecked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass
class SequenceStats:
    """Running totals for one (exchange, symbol)."""

    last_seq: int | None = None
    checked: int = 0
    duplicates: int = 0
    gaps: int = 0
    missing: int = 0
    gap_examples: list[tuple[int, int]] = field(default_factory=list)


class SequenceTracker:
    """Remembers the highest id per key; `check` says which rows of a new slice to keep."""

    def __init__(self, max_examples: int = 5) -> None:
        self.keys: dict[Key, SequenceStats] = {}
        self.max_examples = max_examples

    def stats(self, key: Key) -> SequenceStats:
        return self.keys.setdefault(key, SequenceStats())

    def set_floor(self, key: Key, last_seq: int) -> None:
        """Start from a known last id (a resumed feed handler: what the stream already holds)."""
        st = self.stats(key)
        st.last_seq = last_seq if st.last_seq is None else max(st.last_seq, last_seq)

    def check(self, key: Key, seqs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Keep-mask for rows in arrival order. `valid` marks rows whose id is an integer."""
        keep = np.ones(len(seqs), dtype=bool)
        st = self.stats(key)
        idx = np.flatnonzero(valid)
        if idx.size:
            v = seqs[idx]
            # The first id ever seen has nothing to be contiguous with: pretend its predecessor came.
            start = int(v[0]) - 1 if st.last_seq is None else st.last_seq
            prev = np.maximum.accumulate(np.concatenate(([start], v[:-1])))
            dup = v <= prev
            keep[idx[dup]] = False
            jump = v - prev - 1
            gap = ~dup & (jump > 0)
            if gap.any():
                st.gaps += int(gap.sum())
                st.missing += int(jump[gap].sum())
                for a, b in zip(prev[gap][: self.max_examples], v[gap][: self.max_examples], strict=True):
                    if len(st.gap_examples) < self.max_examples:
                        st.gap_examples.append((int(a), int(b)))
                    log.warning("%s %s: trade ids jump from %d to %d", key[0], key[1], a, b)
            st.duplicates += int(dup.sum())
            st.last_seq = int(max(start, v.max()))
        st.checked += len(seqs)
        return keep

    def totals(self) -> dict[str, int]:
        return {
            "checked": sum(s.checked for s in self.keys.values()),
            "duplicates": sum(s.duplicates for s in self.keys.values()),
            "gaps": sum(s.gaps for s in self.keys.values()),
            "missing_ids": sum(s.missing for s in self.keys.values()),
        }
