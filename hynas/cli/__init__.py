"""The `hynas` command. Each module in this package adds its commands to ``app``.

Errors from user input (``UserError``) end as one paragraph on stderr and exit code 2,
never a traceback. Set HYNAS_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Search, plot and export hybrid conv + attention networks for your hardware.")


def _load_commands() -> None:
    from hynas.registry import import_submodules

    import_submodules("hynas.cli")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning user errors into exit code 2."""
    from hynas.errors import UserError

    _load_commands()
    try:
        app(args=argv, standalone_mode=False)
    except UserError as e:
        if os.environ.get("HYNAS_DEBUG"):
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as e:
        if isinstance(e, _click_exceptions()):  # usage errors (a bad flag value, an unknown command): exit 2
            e.show()  # type: ignore[attr-defined]
            sys.exit(getattr(e, "exit_code", 2))
        if isinstance(e, (typer.Exit,)) or type(e).__name__ == "Exit":
            sys.exit(getattr(e, "exit_code", 0))
        raise


def _click_exceptions() -> tuple[type, ...]:
    """Click's error classes, both the standalone package's and the copy typer vendors.

    typer >= 0.20 raises its vendored ``typer._click`` exceptions, which are not
    subclasses of ``click``'s: checking only one of them turned every usage error into a
    traceback with exit code 1.
    """
    import importlib

    found = []
    for mod in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(importlib.import_module(mod).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)
