"""A frame counter on standard error while frames are upscaled."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, shown: bool = True):
    """Its `update` (frames done); cleared if the work fails, so that the error is the one line left.
    Not `shown`: a counter that counts nothing."""
    if not shown:
        yield lambda frames=1: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="frame", desc=label, dynamic_ncols=True) as bar:
        try:
            yield bar.update
        except BaseException:
            bar.leave = False
            raise
