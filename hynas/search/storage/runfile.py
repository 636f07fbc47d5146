"""Schema checks for what readers take from a run directory, and for output paths.

``check_run_meta`` is applied by ``rundir.read_meta`` to every run.json read (search resume,
plot, report, export, explore): the fields readers index must exist with the right types,
so a hand-edited or foreign run.json is one ``UserError`` naming the file and the field
instead of a ``KeyError`` deep in a reader. ``check_output_file`` refuses an ``--out`` that
cannot become a file, before anything is computed or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hynas.errors import UserError

SYSTEM_TREES = ("/proc", "/sys", "/dev")


def check_run_meta(meta: dict[str, Any], path: Path) -> None:
    """Raise ``UserError`` naming ``path`` and the field when run.json lacks what readers need."""
    from hynas.search.config import OBJECTIVES

    def bad(field: str, what: str) -> UserError:
        return UserError(f"{path}: field '{field}' {what}; this run.json was not written by `hynas search` "
                         "(re-run the search, or restore the file).")

    config = meta.get("config")
    if not isinstance(config, dict):
        raise bad("config", "must be a mapping of the search's settings")
    objectives = config.get("objectives")
    if not isinstance(objectives, list) or not objectives or not all(isinstance(o, str) for o in objectives):
        raise bad("config.objectives", "must be a non-empty list of objective names")
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise bad("config.objectives", f"names unknown objectives {unknown} (known: {', '.join(OBJECTIVES)})")
    for key in ("storage", "study_name"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise bad(key, "must be a non-empty text")
    if not isinstance(config.get("run_dir", ""), str):
        raise bad("config.run_dir", "must be text")


def check_output_file(out: str, flag: str = "--out") -> Path:
    """The file ``out`` names, if one can be written there; a ``UserError`` naming ``flag`` otherwise."""
    if not out or not out.strip():
        raise UserError(f"{flag} is empty. Allowed: a file path, e.g. model.py.")
    p = Path(out)
    absolute = Path(os.path.abspath(p))
    if any(absolute == Path(t) or Path(t) in absolute.parents for t in SYSTEM_TREES):
        raise UserError(f"{flag} {out}: under {', '.join(SYSTEM_TREES)}; not a place to write a model.")
    if p.is_dir() or out.endswith(os.sep):
        raise UserError(f"{flag} {out} is a directory. Allowed: a file path, e.g. {p / 'model.py'}.")
    for up in absolute.parents:
        if up.exists():
            if not up.is_dir():
                raise UserError(f"{flag} {out}: {up} is a file, so no folder can be made under it.")
            if not os.access(up, os.W_OK | os.X_OK):
                raise UserError(f"{flag} {out}: folder {up} is not writable.")
            break
    return p
