"""Where the toolkit keeps what it measures or compiles once per machine (the roofline's peak,
TensorRT's timing cache, TensorRT for RTX's runtime cache): $XDG_CACHE_HOME/repvsr-deploy,
~/.cache/repvsr-deploy by default."""

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repvsr-deploy"


def slug(text: str) -> str:
    """`text` as a file-name part: lower case, runs of anything else than letters and digits as '-'."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
