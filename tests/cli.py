"""``hynas ARGV`` run in-process for tests that check exit codes and messages."""

from __future__ import annotations

from typing import Any

from hynas.cli import main


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str]:
    """``hynas ARGV`` in-process: (exit code, stderr)."""
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err
