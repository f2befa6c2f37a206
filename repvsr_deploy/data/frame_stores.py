"""Where training frames are kept, read one frame at a time by key: image files under a folder, or
PNG-encoded frames in an LMDB database as BasicSR's `create_lmdb` writes them (key `clip/frame`,
value the PNG bytes). A store holds no open handle across a fork: each process opens its own."""

from __future__ import annotations

import io
import os
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence
from ..video.source import IMAGE_SUFFIXES, read_image
from .sequences import to_8bit


class FrameStore:
    """Frames by key, as RGB uint8 [H, W, 3]."""

    def read(self, key: str) -> np.ndarray:
        raise NotImplementedError

    def where(self, key: str) -> str:
        """The frame's name in messages: a path, or the database and key."""
        raise NotImplementedError


class FolderStore(FrameStore):
    """Image files under `root`; a key is a path relative to it."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def read(self, key: str) -> np.ndarray:
        path = self.root / key
        if not path.is_file():
            raise ReportedError(f"{path}: no such frame (the data set's index names it)")
        return to_8bit(read_image(path))

    def where(self, key: str) -> str:
        return str(self.root / key)


class LmdbStore(FrameStore):
    """BasicSR's LMDB: `data.mdb` maps a key (no suffix) to the frame's PNG bytes; a key given with
    an image suffix (a frame file's name, for LR frames beside HR folders) is looked up without it.
    Opened read-only,
    without locks, once per process (an LMDB environment must not be used across a fork)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._env = None
        self._pid = None
        self._environment()  # a file that is not an LMDB is refused here, not in a loader worker
        self.close()  # each process opens its own, when it first reads

    def __getstate__(self):  # loader workers started by spawn open their own environment
        return {"root": self.root, "_env": None, "_pid": None}

    def close(self) -> None:
        if self._env is not None and self._pid == os.getpid():
            self._env.close()
        self._env = self._pid = None

    def _environment(self):
        if self._env is None or self._pid != os.getpid():
            try:
                import lmdb
            except ImportError:
                raise MissingDependency("lmdb", "train", "reading LMDB data sets") from None
            try:
                self._env = lmdb.open(
                    str(self.root), readonly=True, lock=False, readahead=False, meminit=False, max_readers=512
                )
            except lmdb.Error as exc:
                raise ReportedError(
                    f"{self.root / 'data.mdb'}: not a readable LMDB database ({first_sentence(exc)})"
                ) from None
            self._pid = os.getpid()
        return self._env

    def read(self, key: str) -> np.ndarray:
        import lmdb

        key = _without_image_suffix(key)
        try:
            with self._environment().begin(write=False, buffers=False) as txn:
                data = txn.get(key.encode())
        except lmdb.Error as exc:
            raise ReportedError(f"{self.where(key)}: cannot be read ({first_sentence(exc)})") from None
        if data is None:
            raise ReportedError(f"{self.where(key)}: no such key in the database (meta_info.txt names it)")
        return to_8bit(read_image(io.BytesIO(data), self.where(key)))

    def where(self, key: str) -> str:
        return f"{self.root / 'data.mdb'} key '{key}'"


def _without_image_suffix(key: str) -> str:
    path = PurePosixPath(key)
    return str(path.with_suffix("")) if path.suffix.lower() in IMAGE_SUFFIXES else key
