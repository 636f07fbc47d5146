"""The search engine's own time per trial at 1,000 trials, per storage, with the sampler's share separated.

    taskset -c 0 python benchmarks/search_overhead.py ../shared/data/nb201_cifar10.csv --trials 1000

Each run is a fresh NAS-Bench-201 search through ``hynas.search.engine`` (the loop ``hynas
search`` runs) with two objectives and NSGA-II (the multi-objective default); evaluation is
a table lookup (microseconds), so all the time is the engine's: asking the sampler,
proposing, de-duplication, storage writes and reads, bookkeeping. The sampler's own
methods (``infer_relative_search_space``, ``sample_relative``, ``sample_independent``,
``before_trial``, ``after_trial``) are timed separately: that share is Optuna's algorithm
(NSGA-II re-reads all trials of the in-memory study on each ask), the rest is hynas's.

CPU time (``time.process_time``) is reported beside wall time: on a shared machine the wall
time of a single-threaded loop mostly measures the other processes on its core.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

SAMPLER_METHODS = ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial",
                   "after_trial")


class _Timed:
    """Adds the wall and CPU time of the sampler's methods to ``self.wall`` / ``self.cpu``."""

    def __init__(self, sampler: Any) -> None:
        self.wall = self.cpu = 0.0
        for name in SAMPLER_METHODS:
            setattr(sampler, name, self._wrap(getattr(sampler, name)))

    def _wrap(self, fn: Any) -> Any:
        def timed(*a: Any, **k: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.wall += time.perf_counter() - w
                self.cpu += time.process_time() - c

        return timed


def run(table_path: str, storage_kind: str, trials: int, seed: int = 0) -> dict[str, Any]:
    import optuna

    from hynas.search.backends.local import run_local
    from hynas.search.engine import Search
    from hynas.search.problems.tabular import NB201Table, TabularProblem
    from hynas.search.samplers import make_sampler
    from hynas.search.storage.rundir import make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    table = NB201Table(table_path)
    objectives = ("accuracy", "latency_ms")
    with tempfile.TemporaryDirectory() as d:
        storage = {"memory": None, "sqlite": f"sqlite:///{Path(d) / 'study.db'}",
                   "journal": f"journal:{Path(d) / 'journal.log'}"}[storage_kind]
        sampler = make_sampler("nsga2", seed, 2)
        timed = _Timed(sampler)
        w0, c0 = time.perf_counter(), time.process_time()
        study = optuna.create_study(storage=make_storage(storage) if storage else None, sampler=sampler,
                                    directions=["maximize", "minimize"])
        search = Search(study, TabularProblem(table, objectives), objectives, trials)
        run_local(search)
        summary = search.finish()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        asked = len(study.get_trials(deepcopy=False))
    n = summary.evaluated
    ms = lambda x: round(1000 * x / n, 2)
    return {"storage": storage_kind, "evaluated": n, "asked": asked, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "wall_ms_per_trial": ms(wall), "cpu_ms_per_trial": ms(cpu),
            "sampler_wall_ms_per_trial": ms(timed.wall), "sampler_cpu_ms_per_trial": ms(timed.cpu),
            "engine_wall_ms_per_trial": ms(wall - timed.wall), "engine_cpu_ms_per_trial": ms(cpu - timed.cpu)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--storages", default="memory,sqlite,journal")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    res = {"loadavg_before": Path("/proc/loadavg").read_text().split()[:3], "runs": []}
    for kind in a.storages.split(","):
        r = run(str(Path(a.table).resolve()), kind, a.trials)
        res["runs"].append(r)
        print(json.dumps(r), flush=True)
    res["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print("loadavg before/after:", res["loadavg_before"], res["loadavg_after"])
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
