"""Errors that are the user's to fix: reported as one line, never as a traceback."""

# the GPU extras, one per CUDA generation: what the NVIDIA driver runs decides
GPU_INSTALL = (
    "pip install 'repvsr-deploy[gpu-cu13]' (NVIDIA driver >= 580) or 'repvsr-deploy[gpu-cu12]' (driver >= 525)"
)


PARAMETER_MARK = "\x00"


def parameter(name: str) -> str:
    """`name`, a parameter of the Python API, where an error's message names it: `str()` writes it
    `name=`, and a command its flag (`ReportedError.spelled`), so each reader meets their own word."""
    return f"{PARAMETER_MARK}{name}{PARAMETER_MARK}"


def spell(message: str, flags: dict[str, str]) -> str:
    """`message`, each `parameter(name)` in it written `flags[name]`, or `name=` where absent."""
    parts = message.split(PARAMETER_MARK)
    return "".join(flags.get(part, f"{part}=") if k % 2 else part for k, part in enumerate(parts))


class Note(str):
    """A warning that may name parameters: as a str it reads `name=`; `spelled` gives a command's words."""

    marked: str

    def __new__(cls, marked: str):
        note = super().__new__(cls, spell(marked, {}))
        note.marked = marked
        return note

    def spelled(self, flags: dict[str, str]) -> str:
        return spell(self.marked, flags)


class ReportedError(Exception):
    """Bad input or a missing optional piece; the message names the file or parameter and what is wrong."""

    def __str__(self) -> str:
        return self.spelled({})

    def spelled(self, flags: dict[str, str]) -> str:
        """The message, each `parameter(name)` in it written `flags[name]`, or `name=` where absent."""
        return spell(super().__str__(), flags)


class ParameterError(ReportedError):
    """A parameter's value that cannot be taken, or parameters that do not go together (a command
    says so as it says a bad flag: exit 2)."""


class MissingDependency(ReportedError):
    """An optional package is not installed; the message carries the install hint."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(f"{purpose} needs {package}, which is not installed (pip install 'repvsr-deploy[{extra}]')")


class Stopped(BaseException):
    """A termination signal, raised where the program is, so that its cleanup runs (a
    BaseException, as KeyboardInterrupt is: no `except Exception` swallows it). `detail`: what was
    kept, said after "stopped by SIGNAL"."""

    def __init__(self, signum: int, detail: str = ""):
        super().__init__(signum)
        self.signum, self.detail = signum, detail


def require_torch(purpose: str):
    """Import torch or say which extra brings it: the runtime path runs without it."""
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch", "torch", purpose) from None
    return torch


def first_sentence(exc: BaseException | str) -> str:
    """The gist of a library's exception, for the one-line report: its first sentence."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.split(". ")[0].rstrip(".")
