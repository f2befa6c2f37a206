"""The input's other streams (audio, subtitles) cut to the selected time range and moved onto the
output's time line.

A selection of frames is a time range of the input, [begin, end): from the first selected frame's
time to the end of the last one's (either side open when the selection reaches the input's first or
last frame). Every carried stream is cut to it: a packet is kept when its span overlaps the range,
so the audio covers the video's whole range; an audio stream also keeps the packet before the range,
which its decoder needs to reproduce the range's first samples (mp4 and mov trim it by an edit
list), and the input's own priming packets (negative timestamps) when the range starts with the input.
A subtitle that began before the range starts with it. Every stream's timestamps are shifted by the
same `origin`, so the streams keep their offsets to each other. Their tags and dispositions go
with them (`carry_tags`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

CARRIED_TYPES = ("audio", "subtitle")
# tags that muxers write of their own (statistics, durations): not carried from the input
MUXER_TAGS = ("DURATION", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "BPS", "ENCODER", "encoder", "_STATISTICS_")


@dataclass
class TimeRange:
    """In seconds of the input's time line; `origin` becomes the output's 0."""

    origin: Fraction
    begin: Fraction | None = None  # None: from the input's first packet
    end: Fraction | None = None  # None: to the input's last


def packet_span(packet) -> tuple[Fraction, Fraction] | None:
    """(start, end) of a packet in seconds; None for one without a time (a demuxer's flush packet)."""
    time = packet.pts if packet.pts is not None else packet.dts
    if time is None:
        return None
    start = time * packet.time_base
    return start, start + (packet.duration or 0) * packet.time_base


def shift(packet, origin: Fraction) -> None:
    """Move the packet onto the output's time line, where `origin` is 0."""
    ticks = round(origin / packet.time_base)
    if packet.pts is not None:
        packet.pts -= ticks
    if packet.dts is not None:
        packet.dts -= ticks


class StreamCut:
    """Hands the packets of the carried streams that belong to the range to `deliver`, shifted;
    until the range's start is known (a selection by frame index learns it when that frame is
    decoded) it holds them back, keeping only those that may still belong to it."""

    def __init__(self, streams: list, deliver: Callable, time_range: TimeRange | None = None):
        self.deliver = deliver
        self.range = time_range
        self.streams = set(streams)
        self.held: dict = {stream: [] for stream in streams}  # before the range is known
        self.preroll: dict = {}  # per audio stream, the last packet before `begin`
        self.started: set = set()  # streams that delivered a packet of the range
        self.past_end: set = set()

    def offer(self, packet) -> None:
        span = packet_span(packet)
        if span is None or packet.stream in self.past_end:
            return
        if self.range is None:
            self.held[packet.stream].append((packet, span))
        else:
            self._place(packet, span)

    def start(self, time_range: TimeRange) -> None:
        """The range is known: what was held back goes where it belongs."""
        self.range = time_range
        for packets in self.held.values():
            for packet, span in packets:
                self._place(packet, span)
        self.held = {}

    def seen_before_range(self, time: Fraction) -> None:
        """A frame before the selection showed at `time`: packets that end by then cannot overlap
        the range (the last one of an audio stream is kept, in case it is the preroll)."""
        for stream, packets in self.held.items():
            early = [item for item in packets if item[1][1] <= time]
            if early:
                last = early[-1]
                keep = [last] if stream.type == "audio" else []
                self.held[stream] = keep + [item for item in packets if item[1][1] > time]

    def end(self, end: Fraction) -> None:
        self.range.end = end

    @property
    def complete(self) -> bool:
        """Every carried stream has passed the range's end: nothing more of them belongs to it."""
        return self.past_end >= self.streams

    def _place(self, packet, span: tuple[Fraction, Fraction]) -> None:
        begin, end = self.range.begin, self.range.end
        start, stop = span
        stream = packet.stream
        if end is not None and start >= end:
            self.past_end.add(stream)
            return
        if begin is not None and stop <= begin and not (start == stop == begin):
            if stream.type == "audio":
                self.preroll[stream] = packet
            return
        if stream not in self.started:
            self.started.add(stream)
            if stream in self.preroll:
                self._deliver(self.preroll.pop(stream))
        if begin is not None and start < begin and stream.type == "subtitle":
            if packet.duration:
                packet.duration -= round((begin - start) / packet.time_base)
            packet.pts = packet.dts = round(begin / packet.time_base)
        self._deliver(packet)

    def _deliver(self, packet) -> None:
        shift(packet, self.range.origin)
        self.deliver(packet)


class PacketCopy:
    """A carried stream copied into the output packet for packet (`AudioTranscoder` re-encodes
    one instead; both take the packets of the range and are finished with the output)."""

    def __init__(self, container, stream):
        self.container = container
        self.output = container.add_stream_from_template(stream)
        carry_tags(stream, self.output)

    def push(self, packet) -> None:
        packet.stream = self.output
        self.container.mux(packet)

    def finish(self, end: Fraction | None) -> None:
        """Nothing held back: a copy's last packet is the range's."""


def carry_tags(source_stream, output_stream) -> None:
    """The stream's tags (language, title, ...) and disposition (default, forced, ...), less what
    muxers write of their own. mp4/mov read a track's title back as `name`: written as a title."""
    tags = {k: v for k, v in source_stream.metadata.items() if not k.startswith(MUXER_TAGS)}
    if "name" in tags and "title" not in tags:
        tags["title"] = tags.pop("name")
    output_stream.metadata.update(tags)
    output_stream.disposition = source_stream.disposition
