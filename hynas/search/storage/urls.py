"""``--storage`` values checked before anything is written.

A search writes run.json, then opens its study. A storage URL that cannot work (an unknown
scheme, SQLite in memory, a journal under /proc, a server nobody answers on) must fail before
the first write, so nothing is left behind and the bad URL is never recorded in run.json.
Readers (``plot``, ``report``, ``export``) open a study with :func:`check_readable_storage`
first, which refuses a file that does not exist instead of letting the storage create it.
"""

from __future__ import annotations

import os
from pathlib import Path

from hynas.errors import UserError

ALLOWED = ("sqlite:///PATH (a file; the default is RUN_DIR/study.db), journal:PATH (a journal file, several "
           "processes or hosts on a shared file system), postgresql://USER@HOST/DB or mysql://USER@HOST/DB "
           "(a reachable server, its driver installed)")
SERVER_SCHEMES = ("postgresql", "mysql")
SYSTEM_TREES = ("/proc", "/sys", "/dev")
CONNECT_TIMEOUT_S = 3


def _refuse(url: str, why: str, flag: str) -> UserError:
    return UserError(f"{flag} {url!r}: {why} Allowed: {ALLOWED}.")


def file_path(url: str) -> tuple[str, str] | None:
    """('sqlite' | 'journal', path) of a file storage URL; None for anything else."""
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        return "journal", path[2:] if path.startswith("///") else path
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:"):]
        return "sqlite", rest[3:] if rest.startswith("///") else ("" if rest in ("", "//") else "\0" + rest)
    return None


def check_storage_url(url: str, run_dir: str | Path | None = None, *, flag: str = "--storage") -> None:
    """Raise ``UserError`` unless ``url`` names a storage a search can create and write to.

    A file inside ``run_dir`` may lie in folders that do not exist yet (the search creates the
    run directory); any other file needs an existing, writable folder.
    """
    if not isinstance(url, str) or not url.strip() or url != url.strip():
        raise _refuse(str(url), "is blank or has surrounding spaces.", flag)
    f = file_path(url)
    if f is not None:
        _check_file(url, f[0], f[1], run_dir, flag)
        return
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme.split("+", 1)[0] not in SERVER_SCHEMES:
        raise _refuse(url, f"unknown storage scheme {scheme or url.split(':', 1)[0]!r}.", flag)
    _check_server(url, flag)


def _check_file(url: str, kind: str, path: str, run_dir: str | Path | None, flag: str) -> None:
    if path.startswith("\0"):
        raise _refuse(url, "a SQLite file URL has three slashes before the path (sqlite:///PATH).", flag)
    if not path or path == ":memory:" or path.startswith(":memory:") or "mode=memory" in path:
        what = "an in-memory SQLite database" if kind == "sqlite" else "a journal without a path"
        raise _refuse(url, f"is {what}: a search must save its trials to resume.", flag)
    if "\0" in path:
        raise _refuse(url, "the path holds a NUL byte.", flag)
    p = Path(path.split("?", 1)[0] if kind == "sqlite" else path)
    absolute = Path(os.path.abspath(p))
    if any(absolute == Path(t) or Path(t) in absolute.parents for t in SYSTEM_TREES):
        raise _refuse(url, f"{absolute} is under {', '.join(SYSTEM_TREES)}: not a place to save a study.", flag)
    if p.is_dir():
        raise _refuse(url, f"{p} is a directory; name a file in it.", flag)
    if p.exists() and not os.access(p, os.R_OK | os.W_OK):
        raise _refuse(url, f"{p} exists but cannot be read and written.", flag)
    if _inside(absolute, run_dir):
        _check_ancestor(url, absolute, flag)
        return
    parent = absolute.parent
    if not parent.is_dir():
        raise _refuse(url, f"folder {parent} does not exist (create it, or put the file inside --run-dir).", flag)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _refuse(url, f"folder {parent} is not writable.", flag)


def _inside(path: Path, run_dir: str | Path | None) -> bool:
    if run_dir is None:
        return False
    root = Path(os.path.abspath(run_dir))
    return root == path or root in path.parents


def _check_ancestor(url: str, path: Path, flag: str) -> None:
    """The nearest existing folder above a file the search will create must be a writable folder."""
    for up in path.parents:
        if up.exists():
            if not up.is_dir():
                raise _refuse(url, f"{up} is a file, so no folder can be made under it.", flag)
            if not os.access(up, os.W_OK | os.X_OK):
                raise _refuse(url, f"folder {up} is not writable.", flag)
            return


def _check_server(url: str, flag: str) -> None:
    """Parse the URL, import its driver and connect once with a short timeout (nothing is written)."""
    from sqlalchemy import create_engine, exc
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
        dialect.import_dbapi()
    except exc.ArgumentError as e:
        raise _refuse(url, f"is not a database URL ({e}).", flag) from None
    except exc.NoSuchModuleError:
        raise _refuse(url, f"no SQLAlchemy dialect for {parsed.drivername!r}.", flag) from None
    except ImportError as e:
        raise _refuse(url, f"the {parsed.get_backend_name()} driver is not installed ({e.name or e}); install "
                      f"it (e.g. pip install psycopg2-binary or pymysql) or use sqlite/journal.", flag) from None
    engine = create_engine(parsed, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, poolclass=_null_pool())
    try:
        with engine.connect():
            pass
    except Exception as e:  # noqa: BLE001 - any driver error means the server cannot be used
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _refuse(url, f"cannot connect within {CONNECT_TIMEOUT_S} s ({first[:200]}).", flag) from None
    finally:
        engine.dispose()


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool


def check_readable_storage(url: str, where: str) -> None:
    """For readers: a file storage must already exist (opening it would create it); ``where`` names run.json."""
    f = file_path(url)
    if f is None:
        return
    path = f[1].removeprefix("\0")
    path = path.split("?", 1)[0] if f[0] == "sqlite" else path
    if not path or path.startswith(":memory:"):
        raise UserError(f"{where}: storage {url!r} saves nothing; there is no study to read.")
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{where}: no study yet: {p} does not exist or is not a file (the search has not "
                        "created it, or the run directory was copied without its study); nothing was created.")
