"""Loopback live streams for the tests: a sender that streams frames in real time (as a camera or
an encoder would) and a receiver that decodes what comes, each noting when each frame went or came.

`python tests/live_stream.py send URL FRAMES FPS LOG [HOLD]`: listens at URL (tcp, `?listen=1`; LOG
with `.listening` appended is made as it starts to), and once a reader connects sends FRAMES frames of 64x48 H.264 in MPEG-TS at FPS, each at its time,
writing "pts wall-time" lines to LOG as it sends them; then holds the connection open, silent, for
HOLD seconds (a stream that goes quiet) before it closes.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from fractions import Fraction

import av
import numpy as np

WIDTH, HEIGHT = 64, 48


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frame_at(index: int) -> np.ndarray:
    """A moving pattern: every frame differs, and so does every place."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([(x * 4 + index * 3) % 256, (y * 5 + index * 7) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)


def send(url: str, frames: int, fps: int, log: str, hold: float = 0) -> None:
    open(log + ".listening", "w").close()  # av.open binds the port at once
    with av.open(url, "w", format="mpegts", options={"flush_packets": "1"}) as container, open(log, "w") as notes:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        container.start_encoding()
        start = time.perf_counter()
        for index in range(frames):
            time.sleep(max(0.0, start + index / fps - time.perf_counter()))
            frame = av.VideoFrame.from_ndarray(frame_at(index), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
            notes.write(f"{index} {time.time()}\n")
            notes.flush()
        for packet in stream.encode(None):
            container.mux(packet)
        time.sleep(hold)


class Receiver(threading.Thread):
    """Listens at a tcp URL and decodes the MPEG-TS that comes: (pts seconds, wall time) per frame;
    with `frames`, goes away after that many."""

    def __init__(self, port: int, timeout: float = 30, frames: int | None = None):
        super().__init__(daemon=True)
        self.url, self.timeout, self.most = f"tcp://127.0.0.1:{port}?listen=1", timeout, frames
        self.frames: list[tuple[float, float]] = []
        self.size = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            options = {"fpsprobesize": "2"}  # a player starts at once: no 20 frames to guess the rate from
            with av.open(self.url, format="mpegts", timeout=self.timeout, options=options) as container:
                for frame in container.decode(video=0):
                    self.frames.append((float(frame.pts * frame.time_base), time.time()))
                    self.size = (frame.width, frame.height)
                    if len(self.frames) == self.most:
                        return
        except Exception as exc:  # the test says it
            self.error = exc


if __name__ == "__main__":
    command, url, frames, fps, log, *hold = sys.argv[1:]
    assert command == "send"
    send(url, int(frames), int(fps), log, float(hold[0]) if hold else 0)
