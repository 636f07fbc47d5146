"""Bad inputs for every entry point of the CLI, run in-process with a deadline, and classified.

``make_case(entry, rng, root)`` writes whatever files the case needs under ``root`` and
returns the argv, the text a clean refusal must name (file or flag), and environment
variables. ``run_case`` runs ``hynas.cli.main`` under a SIGALRM deadline and classifies the
outcome: ``refused`` (exit 2 naming the file or flag), ``refused_unnamed`` (exit 2 without
it), ``accepted`` (exit 0, or the case's trailing poison flag refused: everything before it
was accepted), ``traceback`` (any other exception or exit code) and ``hang`` (deadline).
Search cases end with ``--budget 0``: an input the search accepts then stops there, so no
search is run.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import shutil
import signal
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POISON = ["--budget", "0"]
POISON_TEXT = "--budget must be at least 1"
TINY = """name: fz
input: {channels: 3, resolution: 32, classes: 10}
stem: {width: [16], blocks: {conv_stem: {reduction: 2}}}
stages:
  - width: [16, 32]
    depth: [1, 2]
    per_block: true
    blocks: {mbconv: {expansion: [2, 4]}, mhsa: {head_dim: [16], mlp_ratio: [2, 4]}}
head: pool_linear
rules: {asymmetric: true, max_params: 2.0e6}
"""
BIG = ["9" * 400, "9" * 5000, str(2**64), "-" + "9" * 40, "1e999", ".nan", ".inf", "-.inf", '"\\ud800"', "~",
       "{range: [1, " + "9" * 500 + "]}", "{range: [1, 64]}", "[]", "{}", "-1", "0"]
SPACE_SLOTS = ["resolution: 32", "width: [16, 32]", "depth: [1, 2]", "expansion: [2, 4]", "mlp_ratio: [2, 4]",
               "max_params: 2.0e6", "name: fz", "classes: 10", "head_dim: [16]"]


class Hang(BaseException):
    """Raised by the deadline alarm (a BaseException: ``except Exception`` in hynas cannot swallow it)."""


@dataclass
class Case:
    entry: str
    argv: list[str]
    names: list[str]  # a clean refusal's message contains one of these
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""


@dataclass
class Outcome:
    case: Case
    kind: str
    detail: str


def _space(rng: random.Random, root: Path) -> Case:
    text = TINY
    if rng.random() < 0.2:
        n, count = rng.choice([(4, "{range: [1, 64]}"), (40, "[1, 2]"), (12, "{range: [1, 32]}")])
        segs = "\n".join(f"      - {{count: {count}, per_block: true, blocks: {{mbconv: {{}}, mhsa: {{}}}}}}"
                         for _ in range(n))
        text = TINY.replace("""    depth: [1, 2]
    per_block: true
    blocks: {mbconv: {expansion: [2, 4]}, mhsa: {head_dim: [16], mlp_ratio: [2, 4]}}""", f"    pattern:\n{segs}")
        label = f"pattern {n}x{count}"
    else:
        slot = rng.choice(SPACE_SLOTS)
        value = rng.choice(BIG)
        text = text.replace(slot, slot.split(":")[0] + ": " + value, 1)
        label = f"{slot.split(':')[0]}={value[:20]}"
    p = root / f"space{rng.randrange(10**9)}.yaml"
    p.write_text(text, encoding="utf-8")
    if rng.random() < 0.05:
        p.chmod(0)
        label += " mode 0"
    return Case("space file", ["space", str(p)], [str(p)], label=label)


FLAG_VALUES = {
    "--seed": ["-1", str(2**32), str(2**64), "9" * 40, "x"],
    "--heartbeat": ["-1", "-99999", "x"],
    "--trial-timeout": ["garbage", "0", "-5", "1e999", "5 parsecs", "0s"],
    "--trial-memory": ["-5", "-1", str(2**40), "x"],
    "--objectives": ["accuracy,accuracy", "latency_ms,latency_ms,accuracy", "", ",", "accuracy,nope", "speed"],
    "--target": ["ort-cpu@b0", "ort-cpu@t0", "ort-cpu@b" + "9" * 5000, "nope", "ort-cpu@x1", "ort-cpu@b1@b1", ""],
    "--time-budget": ["soon", "-1m", "1e999", "5y"],
    "--budget": ["0", "-1", "many"],
    "--constraint": ["latency_ms<", "x<=1", "latency_ms<=1e999", "accuracy==1"],
    "--sampler": ["nope", "NSGA2"],
    "--screen": ["0", "-3"],
    "--workers": ["0", "-1"],
}


def _flags(rng: random.Random, root: Path) -> Case:
    flag = rng.choice(sorted(FLAG_VALUES))
    value = rng.choice(FLAG_VALUES[flag])
    run = root / f"run{rng.randrange(10**9)}"
    names = [flag, "objective", "target", "constraint", "sampler", "duration"]
    return Case("search flags", ["search", "--run-dir", str(run), "--proxy", "naswot", "--no-calibrate", "--budget", "1",
                                 flag, value], names, label=f"{flag} {value[:20]}")


def _storage(rng: random.Random, root: Path) -> Case:
    d = root / f"st{rng.randrange(10**9)}"
    d.mkdir()
    (d / "afile").write_text("x")
    url = rng.choice([
        "foo://bar", "redis://localhost:6379/0", "", " ", "journal:", "journal:///proc/self/j", f"journal:{d}",
        f"sqlite:///{d}/missing_dir/x.db", "sqlite:///:memory:", "sqlite://", "sqlite:", f"sqlite:///{d}",
        f"journal:{d}/afile/j.log", "postgresql://u@127.0.0.1:1/db", "mysql://u@127.0.0.1:1/db", "sqlite:rel.db",
        "sqlite:///file:x?mode=memory&uri=true", "http://example.invalid/", "journal:/dev/null",
        f"sqlite:///{d}/afile/x.db", "sqlite:////proc/x.db", "postgresql://", "mysql+nodriver://x/y",
    ])
    return Case("--storage", ["search", "--run-dir", str(d / "run"), "--proxy", "naswot", "--no-calibrate", "--budget", "1",
                              "--storage", url], ["--storage"], label=repr(url)[:40])


def _png(width: int, height: int) -> bytes:
    raw = b"".join(b"\0" + b"\0" * ((width + 7) // 8) for _ in range(height))
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _dataset(rng: random.Random, root: Path) -> Case:
    import numpy as np

    d = root / f"ds{rng.randrange(10**9)}"
    d.mkdir()
    kind = rng.choice(["one-class", "nan-labels", "negative-labels", "0-channel", "half-written", "png-bomb",
                       "float-labels", "empty", "mismatch", "text", "nan-images", "inf-test-images", "one-hot",
                       "huge-label", "string-labels"])
    x = np.zeros((40, 8, 8, 3), np.uint8)
    y = np.arange(40) % 4
    path = d / "data.npz"
    if kind == "one-class":
        y = np.zeros(40, np.int64)
    elif kind == "nan-labels":
        y = np.full(40, np.nan)
    elif kind == "negative-labels":
        y = -y - 1
    elif kind == "0-channel":
        x = np.zeros((40, 8, 8, 0), np.uint8)
    elif kind == "float-labels":
        y = y + 0.5
    elif kind == "empty":
        x, y = x[:0], y[:0]
    elif kind == "mismatch":
        y = y[:10]
    elif kind in ("nan-images", "inf-test-images"):
        x = np.full(x.shape, np.nan if kind == "nan-images" else np.inf, np.float32)
    elif kind == "one-hot":
        y = np.eye(4)[y]
    elif kind == "huge-label":
        y = y.copy()
        y[5] = 2**62
    elif kind == "string-labels":
        y = np.array(["cat", "dog"] * 20)
    if kind == "png-bomb":
        for c in ("a", "b"):
            (d / "img" / c).mkdir(parents=True)
            (d / "img" / c / "x.png").write_bytes(_png(14000, 14000) if c == "a" else _png(8, 8))
        path = d / "img"
    elif kind == "text":
        path.write_text("not a zip")
    else:
        xt = x if kind != "inf-test-images" else np.zeros(x.shape, np.float32)  # only the test split is bad
        np.savez(path, x_train=xt, y_train=y, x_test=x, y_test=y)
        if kind == "half-written":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
    return Case("--dataset", ["search", "--run-dir", str(d / "run"), "--proxy", "naswot", "--dataset", str(path),
                              *POISON], [str(path), "--dataset"], label=kind)


_BASE: dict[str, Path] = {}


def base_run(root: Path) -> Path:
    """One real finished run (naswot, budget 2), made once per process and copied for each case."""
    if "run" not in _BASE:
        from hynas.cli import main

        run = root / "base-run"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                main(["search", "--run-dir", str(run), "--proxy", "naswot", "--budget", "2", "--seed", "1"])
            except SystemExit:
                pass
        _BASE["run"] = run
    return _BASE["run"]


def _run_dir(rng: random.Random, root: Path) -> Case:
    base = base_run(root)
    d = root / rng.choice(["rd", "r#d", "r d", "r?d"]) / str(rng.randrange(10**9))
    shutil.copytree(base, d)
    meta = json.loads((d / "run.json").read_text())
    kind = rng.choice(["truncated-db", "garbage-db", "text-db", "format-only", "config-string", "no-objectives",
                       "unknown-objective", "journal-missing", "no-db", "plain", "storage-number", "list"])
    db = d / "study.db"
    if kind == "truncated-db":
        db.write_bytes(db.read_bytes()[:1000])
    elif kind == "garbage-db":
        db.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    elif kind == "text-db":
        db.write_text("hello\n" * 100)
    elif kind == "no-db":
        db.unlink()
    elif kind == "format-only":
        meta = {"format": 1}
    elif kind == "config-string":
        meta["config"] = "oops"
    elif kind == "no-objectives":
        meta["config"].pop("objectives")
    elif kind == "unknown-objective":
        meta["config"]["objectives"] = ["accuracy", "speed"]
    elif kind == "journal-missing":
        meta["storage"] = f"journal:{root}/gone{rng.randrange(10**9)}/j.log"
        meta.pop("storage_in_run_dir", None)
    elif kind == "storage-number":
        meta["storage"] = 5
    elif kind == "list":
        meta = [1, 2]
    (d / "run.json").write_text(json.dumps(meta))
    cmd = rng.choice(["plot", "report", "export"])
    argv = [cmd, str(d)] + (["--out", str(d / "out" / "model.py")] if cmd == "export" else [])
    if cmd == "plot":
        argv += ["--no-landmarks"]
    return Case("run directory", argv, [str(d), "run.json", "study"], label=f"{cmd} {kind}")


def _export_out(rng: random.Random, root: Path) -> Case:
    base = base_run(root)
    f = root / f"regular{rng.randrange(10**9)}"
    f.write_text("x")
    out = rng.choice([str(root), "", "/proc/self/model.py", str(f / "model.py"), str(f / "a" / "b.py"), "/",
                      str(root / "ok" / "model.py")])
    return Case("export --out", ["export", str(base), "--out", out], ["--out", out or "''"], label=out[-30:])


def _arch(rng: random.Random, root: Path) -> Case:
    p = root / f"arch{rng.randrange(10**9)}.json"
    p.write_text(rng.choice(["{", "[1, 2]", '{"stages": ' + "9" * 5000 + "}", "null", '"x"', '{"input": 5}',
                             '{"stages": [], "input": {"channels": 3, "resolution": 32, "classes": 10}}',
                             "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")]), encoding="latin-1")
    return Case("arch JSON", ["info", str(p)], [str(p)], label=p.read_text(encoding="latin-1")[:20])


def _predictor(rng: random.Random, root: Path) -> Case:
    d = root / f"pred{rng.randrange(10**9)}"
    d.mkdir()
    shipped = json.loads((REPO / "predictors" / "ort-cpu.json").read_text())
    kind = rng.choice(["list", "number", "lut-list", "regressor-string", "format", "nan-lut", "fingerprint",
                       "not-json", "calibration", "inf-lut", "nan-leaf", "tree-loop", "nan-scale", "zero-lut"])
    doc: object = shipped
    if kind == "list":
        doc = [1]
    elif kind == "number":
        doc = 3
    elif kind == "format":
        doc = dict(shipped, format=99)
    elif kind == "fingerprint":
        doc = dict(shipped, fingerprint=7)
    elif kind == "calibration":
        doc = dict(shipped, calibration="x")
    elif kind in ("lut-list", "nan-lut", "regressor-string"):
        key = next((k for k in shipped if "lut" in k.lower()), None) if kind != "regressor-string" else \
            next((k for k in shipped if "regress" in k.lower() or "model" in k.lower()), None)
        value = [] if kind == "lut-list" else ("x" if kind == "regressor-string" else
                                               {k: float("nan") for k in (shipped.get(key) or {})})
        doc = dict(shipped, **({key: value} if key else {"lut": value}))
    if kind in ("inf-lut", "zero-lut"):
        doc = dict(shipped, lut={**shipped["lut"], next(iter(shipped["lut"])): math.inf if kind == "inf-lut" else 0})
    elif kind in ("nan-leaf", "tree-loop"):
        reg = json.loads(json.dumps(shipped["regressor"]))
        tree = reg["trees"][rng.randrange(len(reg["trees"]))]
        if kind == "nan-leaf":
            tree["value"][rng.randrange(len(tree["value"]))] = math.nan
        else:
            tree["left"][0] = 0
        doc = dict(shipped, regressor=reg)
    elif kind == "nan-scale":
        doc = dict(shipped, calibration={**shipped["calibration"], "scale": math.nan})
    text = "{" if kind == "not-json" else json.dumps(doc)
    (d / "ort-cpu.json").write_text(text)
    # `hynas latency --predict` loads the predictor and predicts one arch (a search with the --budget 0 poison
    # would stop at the budget check before it ever read the predictor)
    ref = str(REPO / "search_spaces" / "reference" / "caformer_s18.yaml")
    return Case("predictor file", ["latency", ref, "--predict", "--target", "ort-cpu"],
                [str(d), "ort-cpu.json", "predictor"], {"HYNAS_PREDICTORS": str(d)}, label=kind)


ROW_EDITS = {  # SQL on one COMPLETE trial (:t) of a copy of the base run's study, as another tool might leave it
    "values deleted": "DELETE FROM trial_values WHERE trial_id = :t",
    "value NULL": "UPDATE trial_values SET value = NULL WHERE trial_id = :t AND objective = 1",
    "one value missing": "DELETE FROM trial_values WHERE trial_id = :t AND objective = 1",
    "every value NULL": "UPDATE trial_values SET value = NULL",
    "value +inf": "UPDATE trial_values SET value = NULL, value_type = 'INF_POS' WHERE trial_id = :t",
    "arch a number": "UPDATE trial_user_attributes SET value_json = '5' WHERE trial_id = :t AND key = 'arch'",
    "arch not JSON": "UPDATE trial_user_attributes SET value_json = '{' WHERE trial_id = :t AND key = 'arch'",
    "attrs deleted": "DELETE FROM trial_user_attributes WHERE trial_id = :t",
    "state unknown": "UPDATE trials SET state = 'BOGUS' WHERE trial_id = :t",
    "number NULL": "UPDATE trials SET number = NULL WHERE trial_id = :t",
    "failed, no reason": "UPDATE trials SET state = 'FAIL' WHERE trial_id = :t",
}


def _study_rows(rng: random.Random, root: Path) -> Case:
    import sqlite3

    base = base_run(root)
    d = root / "rows" / str(rng.randrange(10**9))
    shutil.copytree(base, d)
    kind = rng.choice(sorted(ROW_EDITS))
    con = sqlite3.connect(d / "study.db")
    t = con.execute("SELECT trial_id FROM trials WHERE state = 'COMPLETE' ORDER BY number LIMIT 1").fetchone()[0]
    con.execute(ROW_EDITS[kind], {"t": t})
    con.commit()
    con.close()
    cmd = rng.choice(["results", "plot", "report", "export"])
    argv = [cmd, str(d)] + {"export": ["--out", str(d / "out" / "model.py")], "plot": ["--no-landmarks"],
                            "report": ["--no-landmarks"]}.get(cmd, [])
    return Case("study rows", argv, [str(d), "study"], label=f"{cmd} {kind}")


ENTRIES: dict[str, Callable[[random.Random, Path], Case]] = {
    "space file": _space, "search flags": _flags, "--storage": _storage, "--dataset": _dataset,
    "run directory": _run_dir, "export --out": _export_out, "arch JSON": _arch, "predictor file": _predictor,
    "study rows": _study_rows,
}


def run_case(case: Case, timeout_s: float = 30.0) -> Outcome:
    """Run the case's argv through ``hynas.cli.main`` in-process and classify what happened."""
    from hynas.cli import main

    old_env = {k: os.environ.get(k) for k in case.env}
    os.environ.update(case.env)
    err, out = io.StringIO(), io.StringIO()

    def alarm(*_: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main(case.argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Hang:
        return Outcome(case, "hang", f"no answer in {timeout_s} s")
    except Exception as e:  # noqa: BLE001 - that is what the harness counts
        return Outcome(case, "traceback", f"{type(e).__name__}: {str(e)[:200]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        for k, v in old_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    text = err.getvalue()
    if code == 0 or (code == 2 and POISON_TEXT in text and POISON[0] in case.argv[-2:]):
        return Outcome(case, "accepted", text.strip()[-200:])
    if code == 2 and "Traceback" not in text:
        named = any(n and n in text for n in case.names)
        return Outcome(case, "refused" if named else "refused_unnamed", text.strip()[:300])
    return Outcome(case, "traceback", f"exit {code}: {text.strip()[-300:]}")


def run_many(n_per_entry: int, root: Path, seed: int = 0, entries: list[str] | None = None,
             timeout_s: float = 30.0) -> dict[str, dict]:
    """``n_per_entry`` generated cases per entry point; a tally with the first few non-clean outcomes."""
    tally: dict[str, dict] = {}
    for entry in entries or list(ENTRIES):
        rng = random.Random(f"{seed}:{entry}")
        row: dict = {"tried": 0, "refused": 0, "refused_unnamed": 0, "accepted": 0, "traceback": 0, "hang": 0,
                     "examples": [], "accepted_labels": []}
        for _ in range(n_per_entry):
            o = run_case(ENTRIES[entry](rng, root), timeout_s)
            row["tried"] += 1
            row[o.kind] += 1
            if o.kind == "accepted" and o.case.label not in row["accepted_labels"]:
                row["accepted_labels"].append(o.case.label)
            if o.kind in ("traceback", "hang", "refused_unnamed") and len(row["examples"]) < 8:
                row["examples"].append({"kind": o.kind, "label": o.case.label, "argv": o.case.argv[:2],
                                        "detail": o.detail})
        tally[entry] = row
    return tally
