"""When each frame of a video shows: one rule, for every path that reads one (the whole file in order,
or segments cut at keyframes and run apart, which resume and Ray rely on to agree).

The rule takes the timestamps the frames come with, in the order the decoder gives the frames
(display order), and makes them a time line that only moves on:
- a frame without a timestamp comes the last gap after the one before (the first: at 0);
- a timestamp that does not move on (repeated, or earlier than the one before: out of order) moves
  one tick of the stream's time base past the one before;
- a frame lasts until the next one starts (in mp4 a packet's duration is a step in decoding order,
  not the time its frame shows); the last one as long as the one before it, a lone frame 1/rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True)
class FrameTime:
    """When a frame shows and for how long, in ticks of its source's `time_base`, on the output's
    time line (the selection's origin at 0)."""

    pts: int
    duration: int

    @classmethod
    def of(cls, start: Fraction, duration: Fraction, origin: Fraction, time_base: Fraction) -> FrameTime:
        """A frame's time from its start and duration (seconds), on the time line from `origin`."""
        pts = round((start - origin) / time_base)
        return cls(pts, max(1, round((start + duration - origin) / time_base) - pts))

    def rebased(self, time_base: Fraction, new_base: Fraction, offset: int = 0) -> FrameTime:
        """The same time in ticks of `new_base` (this one's ticks being of `time_base`), `offset` ticks later."""
        if time_base == new_base:
            return FrameTime(self.pts + offset, self.duration)
        return FrameTime(
            offset + round(self.pts * time_base / new_base), max(1, round(self.duration * time_base / new_base))
        )


def timed(frames: Iterable[tuple[Item, Fraction | None]], tick: Fraction, rate: Fraction) -> Iterator[tuple]:
    """(item, start, duration), in seconds, of each (item, timestamp in seconds or None), by the
    rule above; lazily, one frame behind its input (a frame's duration needs the next one's start).

    Args:
        frames: Each frame (anything) with its timestamp, in display order.
        tick: The stream's time base, seconds: how far a timestamp that does not move on is moved.
        rate: Frames a second, for the gap of a frame without a timestamp before any gap is known."""
    previous: tuple | None = None
    gap = 1 / Fraction(rate)
    for item, stamp in frames:
        if previous is None:
            time = Fraction(0) if stamp is None else stamp
        else:
            time = max(previous[1] + gap if stamp is None else stamp, previous[1] + tick)
            gap = time - previous[1]
            yield previous[0], previous[1], gap
        previous = (item, time)
    if previous is not None:
        yield previous[0], previous[1], gap
