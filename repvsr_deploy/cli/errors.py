"""How every command ends on bad input: one line on stderr, a non-zero exit, no traceback.

`--debug` anywhere on the command line shows the traceback instead. SIGTERM and SIGHUP (what
`kill`, `timeout` and container runtimes send) end a command as Ctrl-C does: its outputs are left
as they were, its staging removed, exit 128 + the signal's number. A crash inside a native library
(a segmentation fault) prints every thread's Python stack before the process dies, so that a report
of it says where.
"""

import errno
import faulthandler
import signal
import sys

import click

from ..errors import ParameterError, ReportedError, Stopped, spell

DEBUG_FLAG = "--debug"
STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # what `kill`, `timeout`, container runtimes and a closed terminal send
debug_option = click.option(DEBUG_FLAG, is_flag=True, expose_value=False, help="Show tracebacks on errors.")


def run_command(command: click.Command) -> None:
    """Entry point body: run `command`, turning every failure into its one-line form."""
    prog = command.name
    debug = DEBUG_FLAG in sys.argv[1:]
    if sys.__stderr__ is not None:  # the process's own stderr (pythonw has none)
        faulthandler.enable(file=sys.__stderr__)
    for name in STOP_SIGNALS:
        if hasattr(signal, name):  # Windows has no SIGHUP
            signal.signal(getattr(signal, name), _stop)
    try:
        command.main(prog_name=prog, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group: its help, as click would show it
        click.echo(exc.ctx.get_help())
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # bad flag, missing argument, bad value
        if debug:
            raise
        _fail(prog, exc.format_message(), exc.exit_code)
    except ReportedError as exc:  # the library's words for its parameters, spelled as this command's flags
        if debug:
            raise
        _fail(prog, exc.spelled(command_flags(command)), 2 if isinstance(exc, ParameterError) else 1)
    except Stopped as exc:
        _quiet_half_built_objects()
        detail = spell(exc.detail, command_flags(command))
        _fail(prog, f"stopped by {signal.Signals(exc.signum).name}{detail}", 128 + exc.signum)
    except (click.Abort, KeyboardInterrupt):
        _quiet_half_built_objects()
        _fail(prog, "interrupted", 130)
    except MemoryError:
        if debug:
            raise
        _fail(prog, OUT_OF_MEMORY, 1)
    except OSError as exc:  # what the system refused: a full disk, a vanished file, a device error
        if debug:
            raise
        _fail(prog, _os_error_line(exc), 1)
    except Exception as exc:
        if debug:
            raise
        if _is_torch_out_of_memory(exc):
            _fail(prog, OUT_OF_MEMORY, 1)
        _fail(prog, f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)


def command_flags(command: click.Command) -> dict[str, str]:
    """{parameter name: the flag that sets it} over `command` and its subcommands (the long form),
    and the words a command gives the API's parameters that no flag of its own sets (`spellings`)."""
    commands = [command, *getattr(command, "commands", {}).values()]
    flags = {p.name: max(p.opts, key=len) for c in commands for p in c.params if isinstance(p, click.Option)}
    for c in commands:
        flags.update(getattr(c, "spellings", {}))
    return flags


OUT_OF_MEMORY = "out of memory (a smaller frame, clip or batch needs less)"


def _is_torch_out_of_memory(exc: Exception) -> bool:
    """torch's allocators fail with their own errors (CUDA) or a RuntimeError (CPU), not MemoryError."""
    return type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(exc)


def _stop(signum, frame):
    raise Stopped(signum)


def _quiet_half_built_objects() -> None:
    """After a stop, objects the signal interrupted in their constructor (a progress bar) are
    collected at exit, and their finalizers fail on the attributes they never got: Python would
    print each as "Exception ignored ..." with a traceback after our one line. The stop was said."""
    sys.unraisablehook = lambda unraisable: None


def _os_error_line(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}no space left on the device (nothing half-written was kept)"
    return f"{where}{exc.strerror or exc}"


def _fail(prog: str, message: str, code: int) -> None:
    click.echo(f"{prog}: error: {' '.join(message.split())}", err=True)
    sys.exit(code)
