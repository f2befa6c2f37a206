"""Outputs written whole or not at all, one writer at a time.

Every output (a file, a set of files, a folder of frames) is written into a staging entry beside
it, named `.NAME.staging-*` or `.NAME.*.part`, and moved onto its name only when complete. While
writing, the process holds an exclusive lock on the output (`.NAME.lock`, through filelock: an
operating-system lock that dies with the process, on POSIX and Windows alike; the file is removed
when the writer is done). A run that takes the lock knows that no live process is writing NAME, so
it removes staging that dead writers (SIGKILL, power loss) left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import ReportedError, parameter

_HELD: set[Path] = set()  # outputs this process holds the lock of (a save inside a held run nests)


def writable_directory(directory) -> Path:
    """`directory`, created if missing; one clear error if files cannot be written there."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        in_the_way = next((p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()), None)
        why = f"{in_the_way} is a file, not a folder" if in_the_way else exc.strerror  # else a dangling link
        raise ReportedError(f"{directory}: cannot write there ({why})") from None
    except OSError as exc:
        raise ReportedError(f"{directory}: cannot write there ({exc.strerror})") from None
    try:  # a file made and removed: what permissions, read-only mounts and /proc-like trees allow
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as exc:  # /proc and the like answer "no such file" for a file they will not make
        why = "it takes no new files" if exc.errno == errno.ENOENT else exc.strerror or "no permission"
        raise ReportedError(f"{directory}: cannot write there ({why})") from None
    return directory


@contextlib.contextmanager
def exclusive(target, on_wait: Callable[[], None] | None = None):
    """Hold the lock of output `target`, and clear what dead writers of `target` left beside it.
    While another process holds it: refused in one line, or with `on_wait`, that is called and
    the lock waited for."""
    from filelock import FileLock, Timeout

    target = Path(target).absolute()
    if target in _HELD:
        yield
        return
    lock_path = writable_directory(target.parent) / f".{target.name}.lock"
    lock = FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is None:
            raise ReportedError(f"{target}: another process is writing it now ({lock_path.name} is locked)") from None
        on_wait()
        lock.acquire()
    except OSError as exc:
        raise ReportedError(f"{target}: cannot lock it for writing ({exc.strerror or exc})") from None
    _HELD.add(target)
    try:
        _remove_stale(target)
        yield
    finally:
        _HELD.discard(target)
        with contextlib.suppress(OSError):  # before the release: a waiter that locks this file sees it gone, retries
            os.unlink(lock_path)
        lock.release()


def _remove_stale(target: Path) -> None:
    """Staging entries of `target` beside it: left by dead writers, since we hold its lock."""
    prefixes = (f".{target.name}.staging-", f".{target.name}.old-")
    for entry in target.parent.iterdir():
        name = entry.name
        if name.startswith(prefixes) or (name.startswith(f".{target.name}.") and name.endswith(".part")):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()


def _stage_name(target: Path) -> str:
    return f".{target.name}.staging-{os.getpid()}-"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    refuse_wrong_kind(path, folder=False)
    with exclusive(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
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
def staged_files(main, on_wait: Callable[[], None] | None = None):
    """Yield a staging folder beside file `main`; if the block succeeds, move each file written
    there beside `main` under its name, `main` last: files that belong together appear together
    (subfolders of the stage are scratch, removed with it). Under the lock of `main` (`exclusive`)."""
    main = Path(main)
    refuse_wrong_kind(main, folder=False)
    with exclusive(main, on_wait):
        stage = Path(tempfile.mkdtemp(prefix=_stage_name(main), dir=main.parent))
        try:
            yield stage
            files = sorted((f for f in stage.iterdir() if f.is_file()), key=lambda f: f.name == main.name)
            for file in files:
                os.chmod(file, 0o666 & ~_umask())
                os.replace(file, main.parent / file.name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder, kept: tuple[str, ...], overwrite: bool = False):
    """Yield a staging folder that replaces `folder` whole if the block succeeds. An existing
    non-empty `folder` is replaced only with `overwrite`, and only if it holds nothing but files with
    the suffixes `kept` (what a previous run wrote): else refused, before any work."""
    folder = Path(folder)
    refuse_wrong_kind(folder, folder=True)
    with exclusive(folder):
        _check_replaceable(folder, kept, overwrite)
        stage = Path(tempfile.mkdtemp(prefix=_stage_name(folder), dir=folder.parent))
        try:
            yield stage
            os.chmod(stage, 0o777 & ~_umask())
            if folder.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
                os.replace(folder, old / folder.name)
                os.replace(stage, folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(stage, folder)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _check_replaceable(folder: Path, kept: tuple[str, ...], overwrite: bool) -> None:
    if not folder.is_dir():
        return
    entries = list(folder.iterdir())
    if not entries:
        return
    if not overwrite:
        raise ReportedError(
            f"{folder}: a folder that is not empty ({len(entries)} entries); "
            f"give {parameter('overwrite')} to replace it, or another folder"
        )
    foreign = [e.name for e in entries if not (e.is_file() and e.suffix.lower() in kept)]
    if foreign:
        raise ReportedError(
            f"{folder}: holds more than {'/'.join(kept)} files (e.g. {sorted(foreign)[0]}); "
            f"not replacing it, even with {parameter('overwrite')}"
        )


def refuse_wrong_kind(path: Path, folder: bool) -> None:
    """Refuse to write a file where a folder is, or a folder where a file is."""
    if folder and path.exists() and not path.is_dir():
        raise ReportedError(f"{path}: exists and is not a folder; a folder output would replace it")
    if not folder and path.is_dir():
        raise ReportedError(f"{path}: is a folder; give a file name")


def require_space(path, size: int) -> None:
    """Refuse, before any work, an output of about `size` bytes where the disk has less free."""
    directory = writable_directory(Path(path).parent)
    free = shutil.disk_usage(directory).free
    if free < size:
        raise ReportedError(
            f"{path}: {free / 2**20:.1f} MiB free on its device, the output needs about {size / 2**20:.1f} MiB"
        )


@contextlib.contextmanager
def scratch_folder(prefix: str):
    """A folder of its own under the temporary directory for one run's intermediate files, removed
    when the run ends. Each is held by a lock beside it (`NAME.lock`) while its run lives; folders
    of runs that were killed (SIGKILL leaves them) are removed by the next run with that prefix."""
    from filelock import FileLock

    root = Path(tempfile.gettempdir())
    _remove_dead_scratch(root, prefix)
    fd, lock_path = tempfile.mkstemp(prefix=prefix, suffix=".lock", dir=root)
    os.close(fd)
    lock = FileLock(lock_path)
    with lock:
        folder = Path(lock_path[: -len(".lock")])
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)


def _remove_dead_scratch(root: Path, prefix: str) -> None:
    from filelock import FileLock, Timeout

    for lock_path in root.glob(f"{prefix}*.lock"):
        try:
            with FileLock(lock_path, timeout=0):
                shutil.rmtree(lock_path.with_suffix(""), ignore_errors=True)
                lock_path.unlink(missing_ok=True)
        except (Timeout, OSError):
            continue  # a live run's, or not ours to remove
