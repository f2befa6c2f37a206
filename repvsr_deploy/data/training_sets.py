"""Training data sets as users keep them on disk, indexed by names and sizes, never pixels.

- REDS: `train_sharp/NNN/NNNNNNNN.png` (HR), optionally `train_sharp_bicubic/X4/...` (the official
  bicubic LR). The REDS4 clips (000, 011, 015, 020) are left out of training and validate, as
  BasicSR and both papers do.
- Vimeo-90K septuplets: `sequences/NNNNN/NNNN/im1..im7.png` with `sep_trainlist.txt` (training) and
  `sep_testlist.txt` (Vimeo-90K-T, validation).
- LMDB as BasicSR's `create_lmdb` writes it: `data.mdb` plus `meta_info.txt`, one line per frame
  (`000/00000000.png (720,1280,3) 1`), keys `clip/frame`; REDS4 held out where the clips are REDS's.
- Folders: each DATA folder holds sequences, which are folders of frames or video files.

Indexing reads one image header per sequence (an LMDB's sizes come from its meta_info.txt); every
frame is checked against its sequence's size when a clip reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import ReportedError, first_sentence
from ..video.source import IMAGE_SUFFIXES
from .frame_stores import FolderStore, FrameStore, LmdbStore
from .sequences import frames_8bit, list_sequences, sequence_file

REDS4 = ("000", "011", "015", "020")
VIMEO_FRAMES = tuple(f"im{i}.png" for i in range(1, 8))


@dataclass(frozen=True)
class TrainSequence:
    """A training sequence: its frames by key in a store (and, where LR frames are given, in an LR
    store under the same keys), all of one size."""

    name: str
    store: FrameStore
    prefix: str  # the keys' common part (a folder, an LMDB clip name)
    frames: tuple[str, ...]  # the frames' own names, in order
    height: int
    width: int
    lr_store: FrameStore | None = None
    scale: int = 4

    def __len__(self) -> int:
        return len(self.frames)

    def key(self, index: int) -> str:
        return f"{self.prefix}/{self.frames[index]}" if self.prefix else self.frames[index]

    def read(self, start: int, count: int) -> np.ndarray:
        """HR frames [count, H, W, 3] uint8 from frame `start`."""
        return np.stack(
            [self._checked(self.store, self.key(i), (self.height, self.width)) for i in range(start, start + count)]
        )

    def read_lr(self, start: int, count: int) -> np.ndarray:
        """The given LR frames [count, H/s, W/s, 3] uint8 from frame `start`."""
        size = (self.height // self.scale, self.width // self.scale)
        return np.stack([self._checked(self.lr_store, self.key(i), size) for i in range(start, start + count)])

    @staticmethod
    def _checked(store: FrameStore, key: str, size: tuple[int, int]) -> np.ndarray:
        frame = store.read(key)
        if frame.shape[:2] != size:
            raise ReportedError(
                f"{store.where(key)}: a frame of {frame.shape[1]}x{frame.shape[0]} in a sequence of "
                f"{size[1]}x{size[0]} frames"
            )
        return frame


@dataclass(frozen=True)
class VideoSequence:
    """A video file as a training sequence: a clip decodes from the file's start (long videos train
    faster as frames or an LMDB)."""

    name: str
    path: Path
    count: int
    height: int
    width: int
    lr_store: None = None
    scale: int = 4

    def __len__(self) -> int:
        return self.count

    def read(self, start: int, count: int) -> np.ndarray:
        frames = list(frames_8bit(self.path, count, start))
        if len(frames) < count:
            raise ReportedError(f"{self.path}: ends after {start + len(frames)} frames; its index counted {self.count}")
        for frame in frames:
            if frame.shape[:2] != (self.height, self.width):
                raise ReportedError(f"{self.path}: its frame size changes ({frame.shape[1]}x{frame.shape[0]})")
        return np.stack(frames)


@dataclass(frozen=True)
class ArraySequence:
    """Frames already in memory (the demo's synthetic clips), [T, H, W, 3] uint8."""

    name: str
    clip: np.ndarray
    lr_store: None = None
    scale: int = 4

    @property
    def height(self) -> int:
        return self.clip.shape[1]

    @property
    def width(self) -> int:
        return self.clip.shape[2]

    def __len__(self) -> int:
        return len(self.clip)

    def read(self, start: int, count: int) -> np.ndarray:
        return self.clip[start : start + count]


@dataclass
class TrainingData:
    """What `open_training_data` found: the training sequences, the validation ones the data set
    defines (REDS4, Vimeo-90K-T), and where LR frames come from."""

    kind: str
    train: list
    validation: list = field(default_factory=list)
    validation_name: str = ""
    lr_source: str = ""  # '' where LR frames are made on the fly from the HR ones
    family: str = ""  # the paper data set it is ("reds", "vimeo90k"), whatever holds it

    def __post_init__(self):
        self.family = self.family or (self.kind if self.kind in ("reds", "vimeo90k") else "")


def detect(root: Path) -> str:
    """The layout of a DATA folder."""
    if (root / "data.mdb").is_file():
        return "lmdb"
    if (root / "train_sharp").is_dir() or root.name == "train_sharp":
        return "reds"
    if (root / "sequences").is_dir() and (root / "sep_trainlist.txt").is_file():
        return "vimeo90k"
    return "folders"


def open_training_data(
    roots: list[Path], dataset: str = "auto", lr: Path | None = None, official_lr: bool = False, max_frames=None
) -> TrainingData:
    """The index of a training data set, frames read only when a clip needs them.

    Args:
        roots: Its folders (REDS, Vimeo-90K, a BasicSR LMDB, folders of frames or videos).
        dataset: "auto" (by the layout) or reds, vimeo90k, lmdb, folders.
        lr: Precomputed LR frames under the same names.
        official_lr: Use a data set's own LR frames (REDS's bicubic X4) where it has them.
        max_frames: Read at most this many frames of each sequence.

    Returns:
        A `TrainingData`."""
    roots = [Path(r) for r in roots]
    for root in roots:
        if not root.is_dir():
            raise ReportedError(f"{root}: no such folder")
    kind = detect(roots[0]) if dataset == "auto" else dataset
    if kind != "folders" and len(roots) > 1:
        raise ReportedError(f"{kind} data is one folder; {len(roots)} were given ({', '.join(map(str, roots))})")
    if lr is not None and not Path(lr).exists():
        raise ReportedError(f"{lr}: no such folder (the LR frames)")
    if kind == "reds":
        data = reds(roots[0], lr, official_lr)
    elif kind == "vimeo90k":
        data = vimeo90k(roots[0], lr)
    elif kind == "lmdb":
        data = lmdb_set(roots[0], lr)
    else:
        data = folders(roots, lr)
    if max_frames:
        data.train = [_first_frames(s, max_frames) for s in data.train]
    if not data.train:
        raise ReportedError(f"{roots[0]}: no training sequences in this {kind} data set")
    for sequence in (*data.train[:1], *data.validation[:1]):
        if sequence.lr_store is not None:  # LR frames that are not there are found now, not hours in
            sequence.read_lr(0, 1)
    return data


def _first_frames(sequence, count: int):
    if isinstance(sequence, VideoSequence):
        return replace(sequence, count=min(count, sequence.count))
    return replace(sequence, frames=sequence.frames[:count])


def _lr_store(lr: Path | None) -> FrameStore | None:
    if lr is None:
        return None
    return LmdbStore(lr) if (Path(lr) / "data.mdb").is_file() else FolderStore(lr)


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) from an image's header, without decoding it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ReportedError(f"{path}: not a readable image ({first_sentence(exc)})") from None
    return height, width


def _images(folder: Path) -> tuple[str, ...]:
    return tuple(
        sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    )


def _frame_folder(store: FolderStore, folder: Path, name: str, lr_store) -> TrainSequence | None:
    frames = _images(folder)
    if not frames:
        return None
    height, width = _image_size(folder / frames[0])
    prefix = folder.relative_to(store.root).as_posix()
    return TrainSequence(name, store, "" if prefix == "." else prefix, frames, height, width, lr_store)


def reds(root: Path, lr: Path | None, official_lr: bool) -> TrainingData:
    gt_root = root if root.name == "train_sharp" else root / "train_sharp"
    if not gt_root.is_dir():
        raise ReportedError(f"{gt_root}: no such folder (REDS keeps its HR frames in train_sharp/NNN/)")
    official = gt_root.parent / "train_sharp_bicubic" / "X4"
    if lr is None and official_lr and official.is_dir():
        lr = official
    store, lr_store = FolderStore(gt_root), _lr_store(lr)
    clips = sorted(p for p in gt_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    sequences = [s for s in (_frame_folder(store, clip, clip.name, lr_store) for clip in clips) if s]
    if not sequences:
        raise ReportedError(f"{gt_root}: no clip folders of frames (REDS keeps train_sharp/000/00000000.png, ...)")
    return TrainingData(
        "reds",
        [s for s in sequences if s.name not in REDS4],
        [s for s in sequences if s.name in REDS4],
        "REDS4",
        str(lr) if lr else "",
    )


def vimeo90k(root: Path, lr: Path | None) -> TrainingData:
    sequences = root / "sequences"
    if lr is not None and (Path(lr) / "sequences").is_dir():
        lr = Path(lr) / "sequences"
    store, lr_store = FolderStore(sequences), _lr_store(lr)
    train = _vimeo_list(root / "sep_trainlist.txt", store, lr_store)
    if not train:
        raise ReportedError(f"{root / 'sep_trainlist.txt'}: lists no septuplets")
    test_list = root / "sep_testlist.txt"
    test = _vimeo_list(test_list, store, lr_store) if test_list.is_file() else []
    return TrainingData("vimeo90k", train, test, "Vimeo-90K-T", str(lr) if lr else "")


def _vimeo_list(listing: Path, store: FolderStore, lr_store) -> list[TrainSequence]:
    """The septuplets a list names (`00001/0001` a line), each checked to be a folder; their size is
    the first one's (Vimeo-90K's frames are all 448x256), each frame checked when read."""
    entries = [(number, line.strip()) for number, line in enumerate(_text(listing).splitlines(), 1) if line.strip()]
    for number, entry in entries:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", entry):
            raise ReportedError(f"{listing}, line {number}: '{entry[:60]}' is not a septuplet's name (NNNNN/NNNN)")
        if not (store.root / entry).is_dir():
            raise ReportedError(f"{listing}, line {number}: names {store.root / entry}, which is not a folder")
    if not entries:
        return []
    height, width = _image_size(store.root / entries[0][1] / VIMEO_FRAMES[0])
    return [TrainSequence(entry, store, entry, VIMEO_FRAMES, height, width, lr_store) for _, entry in entries]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportedError(f"{path}: cannot be read ({first_sentence(exc)})") from None


META_LINE = re.compile(r"(\S+?)(?:\.png)?\s+\((\d+),\s*(\d+),\s*(\d+)\)(?:\s+\d+)?")


def lmdb_set(root: Path, lr: Path | None) -> TrainingData:
    """A BasicSR LMDB; its meta_info.txt lists every frame and its shape."""
    meta = root / "meta_info.txt"
    if not meta.is_file():
        raise ReportedError(f"{root}: an LMDB without meta_info.txt (BasicSR's create_lmdb writes one)")
    if lr is not None and not (Path(lr) / "data.mdb").is_file():
        raise ReportedError(f"{lr}: LR frames for an LMDB are an LMDB of the same keys (no data.mdb here)")
    store, lr_store = LmdbStore(root), _lr_store(lr)
    clips: dict[str, list] = {}
    for number, line in enumerate(_text(meta).splitlines(), 1):
        if not line.strip():
            continue
        match = META_LINE.fullmatch(line.strip())
        if not match or "/" not in match[1]:
            raise ReportedError(f"{meta}, line {number}: not 'clip/frame.png (H,W,C) level' ({line.strip()[:60]})")
        clip, frame = match[1].rsplit("/", 1)
        clips.setdefault(clip, []).append((frame, int(match[2]), int(match[3]), number))
    if not clips:
        raise ReportedError(f"{meta}: lists no frames")
    sequences = [_lmdb_sequence(meta, store, lr_store, clip, frames) for clip, frames in sorted(clips.items())]
    if all(len(s) == 1 for s in sequences):
        raise ReportedError(
            f"{root}: holds one frame per clip (as BasicSR's vimeo90k_train_GT_only4th); recurrent "
            "training needs every frame of a clip: write the LMDB from all of them"
        )
    is_reds = all(re.fullmatch(r"\d{3}", s.name) for s in sequences)
    is_vimeo = all(re.fullmatch(r"\d{5}/\d{4}", s.name) for s in sequences)
    held_out = REDS4 if is_reds else ()
    return TrainingData(
        "lmdb",
        [s for s in sequences if s.name not in held_out],
        [s for s in sequences if s.name in held_out],
        "REDS4" if held_out else "",
        str(lr) if lr else "",
        "reds" if is_reds else "vimeo90k" if is_vimeo else "",
    )


def _lmdb_sequence(meta: Path, store, lr_store, clip: str, frames: list) -> TrainSequence:
    frames.sort()
    _, height, width, _ = frames[0]
    for name, h, w, number in frames:
        if (h, w) != (height, width):
            raise ReportedError(
                f"{meta}, line {number}: {clip}/{name} is {w}x{h}, the clip's other frames {width}x{height}"
            )
    return TrainSequence(clip, store, clip, tuple(f[0] for f in frames), height, width, lr_store)


def folders(roots: list[Path], lr: Path | None) -> TrainingData:
    """Each root's sequences: folders of frames or video files (a folder holding one video)."""
    if lr is not None and len(roots) > 1:
        raise ReportedError(f"LR frames ({lr}) pair with one DATA folder's frames by name; {len(roots)} were given")
    sequences = []
    for root in roots:
        store, lr_store = FolderStore(root), _lr_store(lr)
        for path in _listed(root):
            source = sequence_file(path)
            if source.is_dir():
                sequences.append(_frame_folder(store, source, path.name, lr_store))
            elif lr is not None:
                raise ReportedError(f"{source}: LR frames ({lr}) pair with frames by file name, not with videos")
            else:
                sequences.append(_video_sequence(source, path.name))
    return TrainingData("folders", sequences, [], "", str(lr) if lr else "")


def _listed(root: Path) -> list[Path]:
    """The sequences under `root`; a folder of frames given itself is pointed to its parent."""
    try:
        return list_sequences(root)
    except ReportedError:
        if _images(root):
            raise ReportedError(
                f"{root}: holds frames itself; DATA holds sequences (folders of frames): give {root.parent}"
            ) from None
        raise


def _video_sequence(path: Path, name: str) -> VideoSequence:
    from ..video.source import open_source

    with open_source(path) as source:
        height, width = source.height, source.width
        count = source.frame_count or _count_packets(path)
    return VideoSequence(name, path, count, height, width)


def _count_packets(path: Path) -> int:
    """Frames of a video whose container does not declare them, counted from its packets (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)
