"""Search quality on NAS-Bench-201 (CIFAR-10) through hynas's own search loop, and the engine's overhead.

    python benchmarks/search_nb201.py ../shared/data/nb201_cifar10.csv --seeds 50 --jobs 2
    python benchmarks/search_nb201.py ... --single bo --multi "" --overhead "" --first-seed 50  # held-out seeds

Single objective: each sampler searches by *validation* accuracy; we report the *test*
accuracy of the cell with the best validation accuracy found after 100 and 300 distinct
queries (mean ± std over seeds). The 100-query figure is the prefix of the 300-query run:
none of the samplers knows its budget, so this equals a separate 100-query run.

Two objectives (validation accuracy max, Xeon latency min): hypervolume of the found front
as a fraction of the exact front's (whole table), reference point (worst accuracy, worst
latency in the table).

Overhead: 1,000 trials of the default multi-objective sampler (NSGA-II) through the engine,
evaluation being a table lookup (microseconds); ``search_overhead.py`` (memory, SQLite,
journal; the sampler's own share timed apart).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

SINGLE = ("bo", "tpe", "evolution", "random", "nsga2")
MULTI = ("nsga2", "evolution", "tpe", "random")
CHECKPOINTS = (100, 300)


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def _table(path: str) -> Any:
    from hynas.search.problems.tabular import NB201Table

    global _TABLE
    if _TABLE is None or str(_TABLE.path) != path:
        _TABLE = NB201Table(path)
    return _TABLE


_TABLE: Any = None


def _evaluated(study: Any) -> list[Any]:
    return sorted((t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"),
                  key=lambda t: t.number)


def single_run(path: str, sampler: str, seed: int) -> dict[int, float]:
    """Test accuracy of the best-by-validation cell at each checkpoint, for one seed."""
    from hynas.search.engine import run_tabular
    from hynas.search.samplers import make_sampler

    _quiet()
    done = _evaluated(run_tabular(_table(path), make_sampler(sampler, seed, 1), max(CHECKPOINTS)))
    out = {}
    for q in CHECKPOINTS:
        best = max(done[:q], key=lambda t: t.values[0])
        out[q] = best.user_attrs["test_acc"]
    return out


def multi_run(path: str, sampler: str, seed: int) -> dict[int, float]:
    """Hypervolume fraction of the (validation accuracy, latency) front at each checkpoint."""
    from hynas.search.engine import run_tabular
    from hynas.search.samplers import make_sampler

    _quiet()
    table = _table(path)
    study = run_tabular(table, make_sampler(sampler, seed, 2), max(CHECKPOINTS), ("accuracy", "latency_ms"))
    done = _evaluated(study)
    ref, exact = _reference(table)
    return {q: _hv([tuple(t.values) for t in done[:q]], ref) / exact for q in CHECKPOINTS}


def _reference(table: Any) -> tuple[tuple[float, float], float]:
    rows = table.rows.values()
    ref = (min(e.valid_acc for e in rows), max(e.latency_ms for e in rows))
    return ref, _hv(table.front(), ref)


def _hv(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    from hynas.results.pareto import hypervolume

    return hypervolume(points, ["maximize", "minimize"], ref)


def overhead(path: str, storage_kind: str, trials: int = 1000) -> dict[str, Any]:
    """Engine time per trial over ``trials`` NSGA-II trials (see ``search_overhead.py``, which this calls)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from search_overhead import run

    return run(path, storage_kind, trials)


def _stats(xs: list[float], digits: int = 2) -> str:
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}" if len(xs) > 1 else f"{xs[0]:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", help="nb201_cifar10.csv")
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed+seeds-1")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--single", default=",".join(SINGLE))
    ap.add_argument("--multi", default=",".join(MULTI))
    ap.add_argument("--overhead", default="memory,sqlite,journal")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    path = str(Path(a.table).resolve())
    res: dict[str, Any] = {"seeds": a.seeds, "first_seed": a.first_seed, "single": {}, "multi": {}, "overhead": {}}
    with ProcessPoolExecutor(a.jobs) as pool:
        for kind, names, fn in (("single", a.single, single_run), ("multi", a.multi, multi_run)):
            for name in filter(None, names.split(",")):
                t0 = time.perf_counter()
                seeds = range(a.first_seed, a.first_seed + a.seeds)
                runs = list(pool.map(fn, [path] * a.seeds, [name] * a.seeds, seeds))
                res[kind][name] = {q: [r[q] for r in runs] for q in CHECKPOINTS}
                digits = 2 if kind == "single" else 4
                print(f"{kind:6s} {name:10s} " + "  ".join(f"{q}: {_stats(res[kind][name][q], digits)}" for q in
                                                           CHECKPOINTS) + f"  ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
    for kind in filter(None, a.overhead.split(",")):
        res["overhead"][kind] = overhead(path, kind)
        print(f"overhead {kind}: {res['overhead'][kind]}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
