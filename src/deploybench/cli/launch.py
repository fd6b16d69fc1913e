"""The process around the commands: signals (Ctrl-C and SIGTERM stop a run cleanly), one line per error
(a traceback only in a crash log), exit codes, and the commands registered on ``app``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import typer
from typer.exceptions import Abort, Exit, TyperException

from ..schemas import DeploybenchError
from . import measure  # noqa: F401 (registers run and summarize on app, before the other commands)
from .app import app, err


def _sigterm(signum, frame) -> None:  # make SIGTERM take the Ctrl-C path (cleanup included)
    os.kill(os.getpid(), signal.SIGINT)


def _install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM both stop a run cleanly, also when SIGINT was inherited as ignored.

    A process started with ``&`` from a script (or by many CI runners and service managers)
    inherits SIGINT ignored; Python then keeps it ignored, and the SIGTERM handler, which re-sends
    SIGINT, would do nothing. So both are installed explicitly.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm)


INTERRUPTED = 130


def _interrupted() -> int:
    err.print("interrupted — measurements taken so far are saved; run the same command with --name to resume",
              highlight=False, markup=False)
    return INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    _install_signal_handlers()
    try:
        rv = typer.main.get_command(app).main(args=argv, prog_name="deploybench", standalone_mode=False)
    except Exit as exc:
        return exc.exit_code
    except TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        cmd = getattr(getattr(exc, "ctx", None), "command_path", "deploybench")
        err.print(f"error: {exc.format_message()} — see `{cmd} --help`", highlight=False, markup=False)
        return 2
    except DeploybenchError as exc:
        err.print(f"error: {exc.line()}", highlight=False, markup=False)
        return exc.exit_code
    except (KeyboardInterrupt, Abort):
        return _interrupted()
    except Exception as exc:  # a bug: keep the traceback in a file, print one line
        log = _crash_log(exc)
        err.print(f"error: internal error {type(exc).__name__}: {str(exc)[:200]} — please report it with {log}",
                  highlight=False, markup=False)
        return 70
    if rv == INTERRUPTED:  # typer turns Ctrl-C (and so SIGTERM) into a returned 130 without a word
        return _interrupted()
    return rv if isinstance(rv, int) else 0


def _crash_log(exc: BaseException) -> str:
    import tempfile
    import traceback

    path = Path(tempfile.gettempdir()) / "deploybench-crash.log"
    try:
        path.write_text("".join(traceback.format_exception(exc)))
    except OSError:
        return "the command line you ran"
    return str(path)


def entry() -> None:
    sys.exit(main())


def _register_subcommands() -> None:
    """Commands that live in their own modules register themselves on ``app``."""
    import importlib

    for mod in ("analysis", "reporting", "cloud", "quality", "predict", "doctor", "ingest"):
        try:
            module = importlib.import_module(f".{mod}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"cli.{mod}"):
                continue
            raise
        module.register(app)


_register_subcommands()


if __name__ == "__main__":
    sys.exit(main())
