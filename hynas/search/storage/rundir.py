"""A run directory: the Optuna study plus everything needed to re-run and read it.

``runs/NAME/run.json`` holds the resolved config, the space YAML as loaded, hynas and
library versions, and the machine fingerprint. Re-running the same command with the same
run directory resumes; a different space or objectives in the same directory is refused
(start a new run directory instead), and so is a run made by an incompatible version.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.search.config import SearchConfig

RUN_FORMAT = 1
STUDY_NAME = "hynas"
_MUST_MATCH = ("objectives", "space_sha", "target", "dataset", "proxy", "train_steps", "seed", "table", "constraints",
               "table_accuracy", "table_latency", "table_test", "recipe_hash", "input_resolution",
               "int8_keep_bridges")
_ABSENT = {"int8_keep_bridges": False}  # a run.json written before the setting existed had it off


def default_storage(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from hynas import __version__

    out = {"hynas": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("torch", "optuna", "onnxruntime", "onnx", "fvcore", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def space_sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare(cfg: SearchConfig, space_text: str, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create or re-open a run directory; returns its run.json content."""
    rd = Path(cfg.run_dir)
    meta_path = rd / "run.json"
    if cfg.storage is not None:  # refused before anything is written, so run.json never records it
        from hynas.search.storage.urls import check_storage_url

        check_storage_url(cfg.storage, rd)
    storage, inside = stored_storage(cfg.storage or default_storage(rd), rd)
    meta = {"format": RUN_FORMAT, "config": cfg.as_dict(), "space_yaml": space_text, "space_sha": space_sha(space_text),
            "versions": versions(), "fingerprint": fingerprint or {}, "storage": storage,
            **({"storage_in_run_dir": True} if inside else {}), "study_name": STUDY_NAME, **invocation()}
    if meta_path.exists():
        old = read_meta(rd)
        new_cmp = dict(cfg.as_dict(), space_sha=meta["space_sha"])
        old_cmp = dict(old["config"], space_sha=old["space_sha"])
        diff = [k for k in _MUST_MATCH if old_cmp.get(k, _ABSENT.get(k)) != new_cmp.get(k, _ABSENT.get(k))]
        if diff:
            named = [{"recipe_hash": "training recipe (--recipe and its flags, docs/DATA.md)",
                      "int8_keep_bridges": "--int8-keep-bridges"}.get(k, k) for k in diff]
            raise UserError(f"{rd}: this run directory holds a search with a different {', '.join(named)}; "
                            f"resume with the same settings or choose a new --run-dir.")
        old["config"]["budget"] = cfg.budget  # a larger budget extends the run
        old["config"]["time_budget_s"] = cfg.time_budget_s
        for k in ("backend", "workers", "ray_address", "worker_cpus", "worker_gpus", "heartbeat_s",
                  "sampler"):  # how, not what, is searched
            old["config"][k] = getattr(cfg, k)
        _write_meta(meta_path, old)
        return old
    rd.mkdir(parents=True, exist_ok=True)
    _write_meta(meta_path, meta)
    meta[_DIR] = str(rd.resolve())
    return meta


_DIR = "_run_dir"  # in memory only: the directory a run.json was read from (relative storage resolves there)


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    _write_atomic(path, json.dumps({k: v for k, v in meta.items() if k != _DIR}, indent=2))


def _file_url(url: str) -> tuple[str, str] | None:
    """(scheme prefix, file path) of a SQLite or journal URL; None for a server URL."""
    if url.startswith("sqlite:///"):
        return "sqlite:///", url[len("sqlite:///"):]
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        return "journal:", path[2:] if path.startswith("///") else path
    return None


def stored_storage(url: str, run_dir: Path) -> tuple[str, bool]:
    """The storage URL as run.json keeps it: a SQLite or journal file inside the run directory is stored
    relative to it (True), so a copied or moved run directory reads its own study; anything else as given."""
    f = _file_url(url)
    if f is None or not f[1]:
        return url, False
    try:
        rel = Path(f[1]).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return url, False
    return f[0] + rel.as_posix(), True


def storage_url(meta: dict[str, Any]) -> str:
    """The URL to open for a run.json: a path stored relative to the run directory is resolved against the
    directory the run.json was read from (wherever it lies now)."""
    url = meta["storage"]
    if not meta.get("storage_in_run_dir"):
        return url
    prefix, rel = _file_url(url) or ("", url)
    base = Path(meta.get(_DIR) or meta["config"]["run_dir"])
    return prefix + str((base / rel).resolve())


def invocation() -> dict[str, str]:
    """The shell-quoted `hynas ...` command line and working directory, when started from the CLI."""
    import os
    import shlex

    argv0 = Path(sys.argv[0] if sys.argv else "")
    if argv0.name != "hynas" and not (argv0.name == "__main__.py" and argv0.parent.name == "hynas"):
        return {}  # called as a library (tests, notebooks): there is no command line to record
    return {"command": shlex.join(["hynas", *sys.argv[1:]]), "cwd": os.getcwd()}


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so another process never reads a half-written run.json."""
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    rd = Path(run_dir)
    p = rd / "run.json"
    if not p.is_file():
        raise UserError(f"{rd}: not a hynas run directory (no run.json). Run `hynas search --run-dir {rd}` first.")
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: unreadable run.json ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise UserError(f"{p}: run format {meta.get('format') if isinstance(meta, dict) else '?'} is not "
                        f"supported by this hynas (format {RUN_FORMAT}); re-run the search with this version.")
    from hynas.search.storage.runfile import check_run_meta

    check_run_meta(meta, p)  # the fields readers index, with their types
    meta[_DIR] = str(rd.resolve())
    return meta


def make_storage(url: str, heartbeat_s: int | None = None) -> Any:
    """An Optuna storage from a URL: ``journal:PATH`` (or ``journal:///PATH``) is a journal file, anything
    else an RDB URL (SQLite, PostgreSQL, MySQL). ``heartbeat_s`` (RDB only) lets any process fail the
    RUNNING trials of a dead host after 4 missed beats, so a multi-host run never waits on them.
    """
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = url[len("journal:"):]
        path = path[2:] if path.startswith("///") else path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    hb = {"heartbeat_interval": heartbeat_s, "grace_period": 4 * heartbeat_s} if heartbeat_s else {}
    if url.startswith("sqlite:///"):
        return _sqlite_wal(_rdb_storage(url, hb))
    return optuna.storages.RDBStorage(url, **hb) if hb else url


def _rdb_storage(url: str, hb: dict[str, Any], tries: int = 6) -> Any:
    """``RDBStorage(url)``, retried when another process is creating the same SQLite schema.

    Opening an RDB storage creates its tables and version rows where missing; two processes
    doing that at once on one SQLite file can collide ("table ... already exists", "database
    is locked"), and the loser would otherwise die before its first trial.
    """
    import time

    import optuna
    from sqlalchemy.exc import OperationalError

    for attempt in range(tries):
        try:
            return optuna.storages.RDBStorage(url, **hb)
        except OperationalError:
            if attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _sqlite_schema_ready(url: str) -> bool:
    """Whether a SQLite study file exists with Optuna's schema fully written, read without writing.

    A reader (``hynas plot``, ``load_run`` while a search starts) must not open ``RDBStorage`` on a file
    whose schema is still being created: the storage would write the missing tables and version rows
    itself, racing the search that is creating them.
    """
    import sqlite3
    from urllib.parse import quote

    path = Path(url[len("sqlite:///"):])
    if not path.is_file():
        return False
    try:  # quoted: a '#' or '?' in the path would end the file name of the URI
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
        try:
            return bool(con.execute("SELECT count(*) FROM version_info").fetchone()[0]
                        and con.execute("SELECT count(*) FROM alembic_version").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError as e:  # tables not there yet, or the writer holds them right now
        return not ("no such table" in str(e) or "locked" in str(e))
    except sqlite3.DatabaseError as e:  # not a database at all (garbage, text, truncated)
        raise UserError(f"{path}: not a readable SQLite study ({e}).") from None


def _sqlite_wal(storage: Any) -> Any:
    """SQLite in write-ahead-log mode with ``synchronous=NORMAL``: a commit appends to the log without
    an fsync (about 1 ms -> 0.05 ms; tens of ms on a busy disk). A killed process loses nothing
    committed; only an OS crash or power cut can lose the last commits. Readers (``hynas plot``,
    optuna-dashboard) no longer block the writer.
    """
    from sqlalchemy import event

    def on_connect(conn: Any, _record: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened while creating the schema are re-made with the pragmas
    return storage


def open_study(meta: dict[str, Any], sampler: Any = None, create: bool = False) -> Any:
    import optuna

    from hynas.search.config import OBJECTIVES

    url = storage_url(meta)
    if not create:  # a reader: a study file that is not there is reported, never created
        from hynas.search.storage.urls import check_readable_storage

        run_dir = meta.get(_DIR) or meta.get("config", {}).get("run_dir")
        check_readable_storage(url, str(Path(run_dir) / "run.json") if run_dir else url)
    if not create and url.startswith("sqlite:///") and not _sqlite_schema_ready(url):
        where = f" of {meta[_DIR]}" if meta.get(_DIR) else ""
        raise UserError(f"no study '{meta['study_name']}' in {url} yet: the search{where} has not created it, or "
                        "the run directory was copied without its study.")
    storage = make_storage(url, meta["config"].get("heartbeat_s"))
    if create:
        dirs = [OBJECTIVES[o] for o in meta["config"]["objectives"]]
        return optuna.create_study(study_name=meta["study_name"], storage=storage, directions=dirs, sampler=sampler,
                                   load_if_exists=True)
    try:
        return optuna.load_study(study_name=meta["study_name"], storage=storage, sampler=sampler)
    except KeyError:
        raise UserError(f"no study '{meta['study_name']}' in {url}.") from None
