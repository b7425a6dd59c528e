"""Temporal leakage between splits: clips of one split that overlap a train clip in time.

    python -c "from data.leakage import check_leakage; help(check_leakage)"

Shared by data.split (which keeps clips that overlap in one split) and data.stats (which
reports the check for every pair of splits).
"""

from __future__ import annotations

import bisect
from collections import defaultdict

from data.schema import record_key


def frame_range(rec: dict) -> tuple[int, int]:
    return rec["frame_numbers"][0], rec["frame_numbers"][-1]


def check_leakage(train: list[dict], other: list[dict], gap: int = 0) -> dict:
    """How many clips of `other` overlap a `train` clip of the same video in frame range
    (ranges closer than `gap` frames count as overlapping), and how many have the very
    same frames. Returns {n, overlapping, identical, examples}."""
    starts: dict[str, list[int]] = {}
    reach: dict[str, list[int]] = {}  # running max of range ends, in start order
    frames: set[tuple] = set()
    by_video: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in train:
        by_video[r["video_id"]].append(frame_range(r))
        frames.add((r["video_id"], tuple(r["frame_numbers"])))
    for v, ranges in by_video.items():
        ranges.sort()
        starts[v] = [a for a, _ in ranges]
        reach[v], top = [], -(10**18)
        for _, b in ranges:
            top = max(top, b)
            reach[v].append(top)
    overlapping, identical, examples = 0, 0, []
    for r in other:
        v, (a, b) = r["video_id"], frame_range(r)
        i = bisect.bisect_right(starts.get(v, []), b + gap)  # train clips starting by b + gap
        if i and reach[v][i - 1] >= a - gap:
            overlapping += 1
            if len(examples) < 5:
                examples.append(list(record_key(r)))
        identical += (v, tuple(r["frame_numbers"])) in frames
    return {
        "n": len(other),
        "overlapping": overlapping,
        "identical": identical,
        "examples": examples,
    }
