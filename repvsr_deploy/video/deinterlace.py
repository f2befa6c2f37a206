"""Interlaced frames made progressive before they reach a model, which knows nothing of fields.

FFmpeg's bwdif filter (through PyAV), one frame out per frame in (the input's frame rate and
timestamps kept), field order as each frame says; frames not flagged interlaced pass untouched.
"""

from __future__ import annotations

from collections.abc import Iterator


class Deinterlacer:
    FILTER = ("bwdif", "mode=send_frame:parity=auto:deint=interlaced")

    def __init__(self, stream):
        import av.filter

        self._av = av
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(template=stream)
        bwdif = self.graph.add(*self.FILTER)
        sink = self.graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        self.graph.configure()

    def push(self, frame) -> Iterator:
        """The frames that `frame` completes (bwdif looks one frame ahead); None at the end flushes."""
        self.graph.push(frame)
        while True:
            try:
                yield self.graph.pull()
            except (self._av.BlockingIOError, self._av.EOFError):
                return
