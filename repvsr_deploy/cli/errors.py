"""How every command ends on bad input: one line on stderr, a non-zero exit, no traceback.

`--debug` anywhere on the command line shows the traceback instead.
"""

import sys

import click

from ..errors import ReportedError

DEBUG_FLAG = "--debug"
debug_option = click.option(DEBUG_FLAG, is_flag=True, expose_value=False, help="Show tracebacks on errors.")


def run_command(command: click.Command) -> None:
    """Entry point body: run `command`, turning every failure into its one-line form."""
    prog = command.name
    debug = DEBUG_FLAG in sys.argv[1:]
    try:
        command.main(prog_name=prog, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group: its help, as click would show it
        click.echo(exc.ctx.get_help())
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # bad flag, missing argument, bad value
        if debug:
            raise
        _fail(prog, exc.format_message(), exc.exit_code)
    except ReportedError as exc:
        if debug:
            raise
        _fail(prog, str(exc), 1)
    except (click.Abort, KeyboardInterrupt):
        _fail(prog, "interrupted", 130)
    except Exception as exc:
        if debug:
            raise
        _fail(prog, f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)


def _fail(prog: str, message: str, code: int) -> None:
    click.echo(f"{prog}: error: {' '.join(message.split())}", err=True)
    sys.exit(code)
