"""An audio stream re-encoded (`--audio-codec`), for a container that cannot hold it as it is.

Its packets come already cut to the selected range and on the output's time line (`streams`); the
decoded samples are cut to it exactly (nothing before the output's 0, nothing after the last frame
where the selection ends early), converted to a sample format and rate the encoder takes (the
input's rate where it can), and encoded.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import ReportedError, first_sentence, parameter
from .streams import carry_tags


class AudioTranscoder:
    def __init__(self, container, stream, codec: str):
        import av

        self.av, self.container = av, container
        try:
            encoder = av.Codec(codec, "w")
        except (av.FFmpegError, ValueError) as exc:
            raise ReportedError(
                f"{parameter('audio_codec')} {codec}: not an encoder this FFmpeg has ({first_sentence(exc)})"
            ) from None
        if encoder.type != "audio":
            raise ReportedError(f"{parameter('audio_codec')} {codec}: an encoder of {encoder.type}, not of audio")
        decoder = stream.codec_context
        rates = encoder.audio_rates
        self.rate = decoder.sample_rate if not rates or decoder.sample_rate in rates else max(rates)
        try:
            self.output = container.add_stream(codec, rate=self.rate)
        except (av.FFmpegError, ValueError) as exc:
            raise ReportedError(f"{parameter('audio_codec')} {codec}: {first_sentence(exc)}") from None
        self.output.codec_context.layout = decoder.layout
        carry_tags(stream, self.output)
        sample_format = encoder.audio_formats[0].name if encoder.audio_formats else decoder.format.name
        self.resampler = av.AudioResampler(format=sample_format, layout=decoder.layout, rate=self.rate)
        self.decoder = decoder
        self.held = None  # the last decoded frame: the selection's end may cut it
        self.next_pts: int | None = None  # in samples of the output rate

    def push(self, packet) -> None:
        for frame in self.decoder.decode(packet):
            self._take(frame)

    def finish(self, end: Fraction | None) -> None:
        """Flush; `end` (seconds, output time): where the samples stop, or None for all of them."""
        for frame in self.decoder.decode(None):
            self._take(frame)
        if self.held is not None:
            cut = self._cut(self.held, end)
            if cut is not None:
                self._encode(cut)
        self._encode(None)
        self.container.mux(self.output.encode(None))

    def _take(self, frame) -> None:
        if self.held is not None:
            cut = self._cut(self.held, None)
            if cut is not None:
                self._encode(cut)
        self.held = frame

    def _cut(self, frame, end: Fraction | None):
        """The frame's samples from the output's 0 to `end`; None if none are left."""
        rate = frame.sample_rate
        start = frame.pts * frame.time_base if frame.pts is not None else Fraction(0)
        first = max(0, round(-start * rate))
        last = frame.samples if end is None else min(frame.samples, round((end - start) * rate))
        if first >= last:
            return None
        if (first, last) == (0, frame.samples):
            return frame
        samples = frame.to_ndarray()
        if frame.format.is_planar:
            kept = samples[:, first:last]
        else:  # interleaved: one row of samples x channels
            channels = len(frame.layout.channels)
            kept = samples[:, first * channels : last * channels]
        cut = self.av.AudioFrame.from_ndarray(kept.copy(), format=frame.format.name, layout=frame.layout.name)
        cut.sample_rate = rate
        cut.pts, cut.time_base = round((start + Fraction(first, rate)) * rate), Fraction(1, rate)
        return cut

    def _encode(self, frame) -> None:
        """Resampled and encoded, the samples numbered on from the first frame's time; None flushes
        the resampler."""
        if frame is not None:
            if self.next_pts is None:
                self.next_pts = round(frame.pts * frame.time_base * self.rate)
            frame.pts = None
        elif self.next_pts is None:
            return
        for resampled in self.resampler.resample(frame):
            resampled.pts, resampled.time_base = self.next_pts, Fraction(1, self.rate)
            self.next_pts += resampled.samples
            self.container.mux(self.output.encode(resampled))
