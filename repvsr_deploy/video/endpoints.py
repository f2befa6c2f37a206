"""Where frames come from and go besides files: a pipe (`-`: standard input or output) or a network
URL. A file or folder stays a `Path`; a pipe or a URL is a `str`, checked here: a URL's scheme must
be one FFmpeg streams over. Opening one says in one line what went wrong (no such protocol in this
FFmpeg, nothing answering, no data within the timeout, not the format expected)."""

from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

from ..errors import ParameterError, ReportedError, first_sentence, parameter

PIPE = "-"
# the URL schemes taken, and the container a URL's frames are written in by default (FFmpeg's muxers)
URL_FORMATS = {
    "rtmp": "flv",
    "rtsp": "rtsp",
    "srt": "mpegts",
    "udp": "mpegts",
    "tcp": "mpegts",
    "http": "mpegts",
    "https": "mpegts",
}
SCHEMES = tuple(URL_FORMATS)
PIPE_INPUT_FORMAT = "yuv4mpegpipe"
# the formats a pipe or URL output may be written in (`--format`), by the names users know
STREAM_FORMATS = {"y4m": "yuv4mpegpipe", "nut": "nut", "matroska": "matroska", "mpegts": "mpegts", "flv": "flv"}
DEFAULT_TIMEOUT = 10.0  # seconds an input URL may take to open or go without data; a listening output, to be read
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

Location = Path | str  # a file or folder; or PIPE or a URL


def location(value: Path | str) -> Location:
    """`value` as a Location: PIPE and URLs (with a known scheme) stay text, the rest is a path."""
    if isinstance(value, Path):
        return value
    if value == PIPE:
        return PIPE
    match = _URL.match(value)
    if match is None:
        return Path(value)
    scheme = match.group(1).lower()
    if scheme == "file":
        return Path(value[len("file://") :])
    if scheme not in SCHEMES:
        raise ParameterError(f"{value}: unknown URL scheme {scheme}:// (known: {', '.join(SCHEMES)}, or a path)")
    return value


def is_stream(where: Location) -> bool:
    """A pipe or a URL: read or written once, in order, never seeked."""
    return isinstance(where, str)


def is_url(where: Location) -> bool:
    return isinstance(where, str) and where != PIPE


def label(where: Location, output: bool = False) -> str:
    """How messages name it (the pipe: standard input, or as an `output` standard output)."""
    if where == PIPE:
        return "standard output" if output else "standard input"
    return str(where)


def output_format(where: str, asked: str | None) -> str:
    """The FFmpeg muxer a pipe or URL output is written with: `asked` (a STREAM_FORMATS name), else
    y4m on a pipe, else the URL scheme's."""
    if asked is not None:
        return STREAM_FORMATS[asked]  # a name `Encoding` checked
    if where == PIPE:
        return STREAM_FORMATS["y4m"]
    return URL_FORMATS[_URL.match(where).group(1).lower()]  # type: ignore[union-attr]  # a checked URL


class CountingReader:
    """Standard input for FFmpeg, counting the bytes it read: a y4m pipe cut inside a frame is only
    seen by the bytes left over after the last whole one (the demuxer ends quietly there)."""

    def __init__(self, stream):
        self.stream, self.bytes = stream, 0

    def read(self, size: int) -> bytes:
        data = self.stream.read1(size)  # what has come, up to `size`: a live pipe is not held back
        self.bytes += len(data)
        return data


def open_input(av, where: str | CountingReader, input_format: str | None, timeout: float):
    """A PyAV container reading a URL, or standard input through a `CountingReader` (y4m unless
    `input_format`)."""
    if input_format is not None and input_format not in av.formats_available:
        raise ParameterError(f"{parameter('input_format')} {input_format}: not a format this FFmpeg reads")
    try:
        if isinstance(where, CountingReader):
            return av.open(where, format=input_format or PIPE_INPUT_FORMAT, buffer_size=1 << 16)
        return av.open(where, format=input_format, timeout=timeout)
    except av.FFmpegError as exc:
        if isinstance(where, CountingReader) and where.bytes == 0:
            raise ReportedError("standard input: empty (nothing came down the pipe)") from None
        where = PIPE if isinstance(where, CountingReader) else where
        raise ReportedError(_opening_failed(av, where, exc, timeout, input_format)) from None


def open_output(av, where: str, container_format: str, options: dict, timeout: float):
    """A PyAV container writing the pipe (standard output) or URL in `container_format` (it
    connects when its header is written: `start_output`). A tcp URL that listens for its reader
    waits `timeout` seconds for it (FFmpeg's own wait has no end, and no signal stops it)."""
    try:
        if where == PIPE:
            if sys.stdout.isatty():
                raise ReportedError("standard output is a terminal: pipe it into a program, or give a file")
            return av.open(standard_output(), "w", format=container_format, options=options)
        return av.open(_listening_bounded(where, timeout), "w", format=container_format, options=options)
    except av.FFmpegError as exc:
        raise ReportedError(_opening_failed(av, where, exc, output=True)) from None


def start_output(av, container, where: str, timeout: float) -> None:
    """Write the header of an output opened by `open_output` (for a URL: connect), its streams added."""
    try:
        container.start_encoding()
    except (av.FFmpegError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.ETIMEDOUT:
            raise ReportedError(f"{where}: no reader within {timeout:g} s ({parameter('timeout')})") from None
        if isinstance(exc, av.FFmpegError):
            raise ReportedError(_opening_failed(av, where, exc, output=True)) from None
        raise ReportedError(f"{label(where, output=True)}: {exc.strerror or exc}") from None


def _listening_bounded(url: str, timeout: float) -> str:
    """A tcp URL that listens (`?listen=1`), given FFmpeg's `listen_timeout` unless it has one."""
    if not url.lower().startswith("tcp://") or "listen=" not in url or "listen_timeout=" in url:
        return url
    return f"{url}&listen_timeout={round(timeout * 1000)}"


class _Descriptor:
    """A file descriptor written whole and at once: no Python buffer holds a live reader's frames
    back, and none is left to flush (and fail) at exit when the reader has gone."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)


def standard_output():
    """What FFmpeg writes standard output through: its descriptor, or where there is none (a
    notebook, a test's stand-in) Python's stdout object."""
    sys.stdout.flush()
    try:
        return _Descriptor(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return sys.stdout.buffer


def _opening_failed(
    av, where: str, exc, timeout: float | None = None, input_format: str | None = None, output: bool = False
) -> str:
    """One line for a pipe or URL that would not open (`output`: for writing; an input waits
    `timeout` seconds at most)."""
    if isinstance(exc, av.error.ProtocolNotFoundError):
        return f"{where}: this FFmpeg has no {where.split('://', 1)[0]} protocol"
    if isinstance(exc, av.error.ConnectionRefusedError):
        return f"{where}: connection refused (nothing listens there)"
    if isinstance(exc, av.error.ExitError) and timeout is not None:
        return f"{where}: nothing within {timeout:g} s ({parameter('timeout')})"
    why = exc.strerror or first_sentence(exc)
    if where == PIPE and not output:
        return f"standard input: not a {input_format or 'y4m'} stream ({why}); give {parameter('input_format')}"
    return f"{label(where, output)}: cannot {'write' if output else 'read'} there ({why})"
