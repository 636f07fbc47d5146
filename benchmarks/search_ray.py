"""A Ray run on a local 2-worker instance finishes its budget although a worker is SIGKILLed mid-run.

    python benchmarks/search_ray.py ../shared/data/nb201_cifar10.csv --budget 40 --delay 0.5

Each candidate is a NAS-Bench-201 table lookup made to last ``--delay`` seconds, so the
kill lands while a worker is busy. Prints the trials finished before the kill, after the
run, how many of those first ones are still there unchanged, and the wall time.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table")
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--kill-after", type=int, default=10)
    a = ap.parse_args()
    import optuna
    import ray

    from hynas.search.backends.ray_tasks import init_ray, run_ray
    from hynas.search.engine import Search
    from hynas.search.problems.tabular import NB201Table, TabularProblem
    from hynas.search.samplers import make_sampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    t0 = time.perf_counter()
    init_ray(None, 2)
    with tempfile.TemporaryDirectory() as d:
        study = optuna.create_study(storage=f"sqlite:///{Path(d) / 's.db'}", sampler=make_sampler("nsga2", 0, 2),
                                    directions=["maximize", "minimize"])
        problem = TabularProblem(NB201Table(a.table), ("accuracy", "latency_ms"), delay_s=a.delay)
        search = Search(study, problem, ("accuracy", "latency_ms"), budget=a.budget)
        state: dict = {}

        def killer() -> None:
            while not state and search.done < a.budget:
                if search.done >= a.kill_after:
                    done = {t.number: t.values for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
                    pid = max(t.user_attrs["worker"]["pid"] for t in study.get_trials(deepcopy=False)
                              if "worker" in t.user_attrs)
                    os.kill(pid, signal.SIGKILL)
                    state.update(pid=pid, before=done)
                time.sleep(0.02)

        th = threading.Thread(target=killer, daemon=True)
        th.start()
        run_ray(search, type("Cfg", (), {"workers": 2, "ray_address": None, "worker_cpus": 1.0, "worker_gpus": 0.0})())
        th.join(timeout=10)
        trials = study.get_trials(deepcopy=False)
        after = {t.number: t.values for t in trials if t.state.name == "COMPLETE"}
        kept = sum(after.get(n) == v for n, v in state.get("before", {}).items())
        print(f"killed worker pid {state.get('pid')} after {len(state.get('before', {}))} finished trials; "
              f"run ended with {len(after)}/{a.budget} complete, {sum(t.state.name == 'FAIL' for t in trials)} failed, "
              f"{kept}/{len(state.get('before', {}))} of the trials finished before the kill kept unchanged; "
              f"{len({t.user_attrs['worker']['pid'] for t in trials if 'worker' in t.user_attrs})} worker pids seen; "
              f"wall {time.perf_counter() - t0:.1f} s (incl. Ray start)")
    ray.shutdown()


if __name__ == "__main__":
    main()
