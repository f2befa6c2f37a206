"""Atomic file writes: a finished file appears under its name, or nothing does."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import ReportedError


def writable_directory(directory) -> Path:
    """`directory`, created if missing; one clear error if files cannot be written there."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportedError(f"{directory}: cannot write there ({exc.strerror})") from None
    if not os.access(directory, os.W_OK):
        raise ReportedError(f"{directory}: cannot write there (no permission)")
    return directory


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=writable_directory(path.parent))
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_files(directory):
    """Yield a temporary folder inside `directory`; if the block succeeds, move every file written
    there into `directory` under the same name. Files that belong together appear together."""
    directory = writable_directory(directory)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    try:
        yield stage
        for file in stage.iterdir():
            os.chmod(file, 0o666 & ~_umask())
            os.replace(file, directory / file.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
