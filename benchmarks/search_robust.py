"""Robustness of the default samplers across landscapes of the NAS-Bench-201 space, against simple baselines.

    nice -n 10 python benchmarks/search_robust.py --seeds 50 --jobs 2 --out benchmarks/results/search_robust.jsonl
    python benchmarks/search_robust.py --report benchmarks/results/search_robust.jsonl   # the tables

Every run appends one JSON line (landscape, method, seed, values at 100 and 300 queries), so
an interrupted run keeps what it finished and ``--report`` tables whatever is there.

Single-objective landscapes (a query is a distinct *effective* cell, as in the engine; the
search sees one column, we report another for the cell with the best seen value):

* ``c10``: NAS-Bench-201 CIFAR-10, sees validation, reports test accuracy;
* ``c100``: CIFAR-100 test accuracy (seen and reported);
* ``c10-noisy``: validation + Gaussian noise per network drawn from the run's seed, sigma the
  spread of test - validation over the table's top 5 % cells (a split-to-split spread), reports
  the clean test accuracy;
* ``c100-perm``: CIFAR-100 with the operation labels permuted on every edge (a fresh
  permutation per seed): a space whose option order means nothing;
* ``c10-rank``: validation accuracy replaced by its rank (a monotone transform);

Baselines: ``random`` and ``evolution`` (hynas's samplers through the same engine) and a plain
best-improvement local search written here (start at a random cell, evaluate all Hamming-1
neighbours in random order, move to the best if it improves, else restart at a random cell;
White et al., "Local search is state of the art for NAS benchmarks", 2020).

Two objectives (accuracy max, cost min): hypervolume of the found front as a fraction of the
exact front's, reference point (worst accuracy, worst cost in the table): ``c10-xeon``,
``c100-pixel3``, ``c100-titan`` (measured latencies) and ``c10-params`` (params as the cost).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

CHECKPOINTS = (100, 300)
MULTI_GOALS = {100: 0.97, 300: 0.985}  # issue #15: hypervolume fraction every device column must reach
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SINGLE = {"c10": ("nb201_cifar10.csv", "cifar10_valid_acc", "cifar10_test_acc"),
          "c100": ("nb201_cifar100_devices.csv", "cifar100_test_acc", "cifar100_test_acc"),
          "c10-noisy": ("nb201_cifar10.csv", "cifar10_valid_acc", "cifar10_test_acc"),
          "c100-perm": ("nb201_cifar100_devices.csv", "cifar100_test_acc", "cifar100_test_acc"),
          "c10-rank": ("nb201_cifar10.csv", "cifar10_valid_acc", "cifar10_test_acc")}
MULTI = {"c10-xeon": ("nb201_cifar10.csv", "cifar10_valid_acc", "latency_ms_xeon_gold_6226"),
         "c100-pixel3": ("nb201_cifar100_devices.csv", "cifar100_test_acc", "latency_ms_pixel3"),
         "c100-titan": ("nb201_cifar100_devices.csv", "cifar100_test_acc", "latency_ms_titan_rtx_1"),
         "c10-params": ("nb201_cifar10.csv", "cifar10_valid_acc", "params_M")}
# Settings of the default sampler other than its defaults, chosen on held-out seeds (1000-1029 of c10), not on 0-49.
VARIANTS = {"robust-p8r3": {"patience": 8, "radius": 3}}
_COLUMNS: dict[str, dict[tuple[str, ...], dict[str, float]]] = {}
_CANONICAL: dict[tuple[int, str], dict[str, float]] = {}


def columns(file: str) -> dict[tuple[str, ...], dict[str, float]]:
    """ops -> every numeric column, read by hynas's strict NB201 parser."""
    if file not in _COLUMNS:
        from hynas.nb201 import NB201Table

        acc, lat = ("cifar10_valid_acc", "latency_ms_xeon_gold_6226") if file == "nb201_cifar10.csv" else \
            ("cifar100_test_acc", "latency_ms_pixel3")
        _COLUMNS[file] = NB201Table(DATA / file, accuracy=acc, latency=lat).columns
    return _COLUMNS[file]


class Landscape:
    """What a search sees and what we report, per cell; ``key`` names the network (equivalent cells share it)."""

    def __init__(self, name: str, seed: int) -> None:
        from hynas.nb201 import EDGES, OPS

        spec = SINGLE.get(name) or MULTI[name]
        rows = columns(spec[0])
        rng = random.Random(f"{name}:{seed}")
        self.perm = [dict(zip(OPS, rng.sample(OPS, len(OPS)))) for _ in EDGES] if name.endswith("-perm") else None
        self.seen = canonical(rows, spec[1])
        self.report = canonical(rows, spec[2])
        if name.endswith("-noisy"):
            sigma = _split_spread(rows)
            self.seen = {k: v + rng.gauss(0.0, sigma) for k, v in sorted(self.seen.items())}
        if name.endswith("-rank"):
            order = sorted(self.seen, key=self.seen.__getitem__)
            self.seen = {k: i / len(order) for i, k in enumerate(order)}
        self.best_seen = max(self.seen.values())
        self.cost: dict[str, float] = {}

    def key(self, ops: tuple[str, ...]) -> str:
        from hynas.nb201 import effective_ops, to_string

        real = tuple(p[o] for p, o in zip(self.perm, ops)) if self.perm else ops  # what the label means
        return to_string(effective_ops(real))


def canonical(rows: dict[tuple[str, ...], dict[str, float]], column: str) -> dict[str, float]:
    """Network -> value: a network (effective cell) takes the row of its canonical cell (unused edges 'none')."""
    from hynas.nb201 import effective_ops, to_string

    if (id(rows), column) not in _CANONICAL:  # the same table's rows: computed once per process
        _CANONICAL[id(rows), column] = {to_string(ops): r[column] for ops, r in rows.items()
                                        if effective_ops(ops) == ops}
    return dict(_CANONICAL[id(rows), column])


def _split_spread(rows: dict[tuple[str, ...], dict[str, float]]) -> float:
    top = sorted(rows.values(), key=lambda r: -r["cifar10_valid_acc"])[: len(rows) // 20]
    return statistics.stdev(r["cifar10_test_acc"] - r["cifar10_valid_acc"] for r in top)


def engine_trace(land: Landscape, sampler: Any, queries: int, cost: str | None) -> list[tuple[float, ...]]:
    """(seen, report[, cost]) of each distinct cell in the order hynas's engine evaluated them."""
    import optuna

    from hynas.nb201 import EDGE_NAMES, OPS
    from hynas.search.backends import BACKENDS
    from hynas.search.engine import Search
    from hynas.search.types import BaseProblem, Candidate, Evaluation

    class Problem(BaseProblem):
        def propose(self, trial: Any) -> Candidate:
            ops = tuple(trial.suggest_categorical(n, list(OPS)) for n in EDGE_NAMES)
            k = land.key(ops)
            return Candidate(key=k, attrs={"hash": k}, payload=k)

        def evaluate(self, cand: Candidate, report: Any = None) -> Evaluation:
            values = {"accuracy": land.seen[cand.payload]}
            if cost:
                values["latency_ms"] = land.cost[cand.payload]
            return Evaluation(values, {})

    objs = ("accuracy", "latency_ms") if cost else ("accuracy",)
    study = optuna.create_study(sampler=sampler, directions=["maximize", "minimize"][: len(objs)])
    BACKENDS.get("local")(Search(study, Problem(), objs, queries))
    done = sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.number)
    k = [t.user_attrs["hash"] for t in done]
    return [(land.seen[x], land.report[x]) + ((land.cost[x],) if cost else ()) for x in k]


def local_search_trace(land: Landscape, seed: int, queries: int) -> list[tuple[float, ...]]:
    """Plain best-improvement local search with random restarts, on distinct networks."""
    from hynas.nb201 import EDGES, OPS

    rng = random.Random(f"ls:{seed}")
    seen: dict[str, float] = {}
    trace: list[tuple[float, ...]] = []

    def query(ops: tuple[str, ...]) -> float:
        k = land.key(ops)
        if k not in seen and len(trace) < queries:
            seen[k] = land.seen[k]
            trace.append((land.seen[k], land.report[k]))
        return seen.get(k, float("-inf"))

    while len(trace) < queries:
        x = tuple(rng.choice(OPS) for _ in EDGES)
        fx = query(x)
        while len(trace) < queries:
            nbrs = [x[:i] + (o,) + x[i + 1:] for i in range(len(x)) for o in OPS if o != x[i]]
            rng.shuffle(nbrs)
            best = max(nbrs, key=query)
            if query(best) <= fx:
                break
            x, fx = best, query(best)
    return trace


def single_run(name: str, method: str, seed: int, checkpoints: tuple[int, ...] = CHECKPOINTS) -> dict[str, Any]:
    land = Landscape(name, seed)
    if method == "oracle":  # every network evaluated: the ceiling of any method that reports its best-seen cell
        trace = [(land.seen[k], land.report[k]) for k in land.seen]
        checkpoints = tuple(checkpoints)
    elif method == "local":
        trace = local_search_trace(land, seed, max(checkpoints))
    else:
        trace = engine_trace(land, _sampler(method, seed, 1), max(checkpoints), None)
    out: dict[str, Any] = {"landscape": name, "method": method, "seed": seed}
    for q in checkpoints:
        best = max(trace if method == "oracle" else trace[:q], key=lambda r: r[0])  # first of the best seen
        out[str(q)] = best[1]
        out[f"opt{q}"] = best[0] >= land.best_seen - 1e-9
    return out


def multi_run(name: str, method: str, seed: int, checkpoints: tuple[int, ...] = CHECKPOINTS) -> dict[str, Any]:
    from hynas.results.pareto import hypervolume

    land = Landscape(name, seed)
    land.cost = canonical(columns(MULTI[name][0]), MULTI[name][2])
    pts = list(zip(land.seen.values(), (land.cost[k] for k in land.seen)))
    ref = (min(p[0] for p in pts), max(p[1] for p in pts))
    exact = _hv_2d(pts, ref)
    trace = engine_trace(land, _sampler(method, seed, 2), max(checkpoints), "cost")
    out: dict[str, Any] = {"landscape": name, "method": method, "seed": seed}
    for q in checkpoints:
        out[str(q)] = hypervolume([(r[0], r[2]) for r in trace[:q]], ["maximize", "minimize"], ref) / exact
    return out


def _hv_2d(pts: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Hypervolume of (accuracy max, cost min) points by one sweep in cost order (the whole table at once)."""
    total, best = 0.0, ref[0]
    for acc, cost in sorted(pts, key=lambda p: (p[1], -p[0])):
        if acc > best:
            total += (acc - best) * (ref[1] - cost)
            best = acc
    return total


def _sampler(method: str, seed: int, n_objectives: int) -> Any:
    import optuna

    from hynas.search.samplers import default_sampler, make_sampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if method in VARIANTS:
        from hynas.search.samplers.robust import RobustBOSampler

        return RobustBOSampler(seed=seed, **VARIANTS[method])
    return make_sampler(default_sampler(n_objectives) if method == "default" else method, seed, n_objectives)


def run(args: argparse.Namespace) -> None:
    jobs: list[tuple[Callable[..., dict[str, Any]], str, str, int]] = []
    checkpoints = tuple(int(q) for q in args.queries.split(","))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for fn, lands, methods in ((single_run, args.single, args.single_methods),
                               (multi_run, args.multi, args.multi_methods)):
        for name in filter(None, lands.split(",")):
            jobs += [(fn, name, m, s) for s in seeds for m in filter(None, methods.split(","))]
    jobs.sort(key=lambda j: j[3])  # seed by seed across landscapes: a run stopped early has the first seeds of all
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool, open(args.out, "a") as f:
        futs = [pool.submit(fn, name, m, s, checkpoints) for fn, name, m, s in jobs]
        for i, fut in enumerate(as_completed(futs), start=1):
            r = fut.result()
            if args.tag:
                r["code"] = args.tag
            f.write(json.dumps(r) + "\n")
            f.flush()
            print(f"[{i}/{len(jobs)} {time.perf_counter() - t0:.0f} s] {r}", flush=True)


def report(path: str) -> str:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:  # lines from another version of the code carry its tag ("code") and form their own row
        method = r["method"] + (f" [{r['code']}]" if r.get("code") else "")
        by.setdefault((r["landscape"], method), []).append(r)
    lines = []
    for land in dict.fromkeys(r["landscape"] for r in rows):
        ls = by.get((land, "local"), [])
        for (name, method), rs in by.items():
            if name == land:
                lines.append(_row(land, method, rs, ls))
    return "\n".join(lines)


def _row(land: str, method: str, rs: list[dict[str, Any]], ls: list[dict[str, Any]]) -> str:
    multi = land in MULTI
    seeds = {r["seed"] for r in rs}
    cells = [land, method, str(len(seeds))]
    for q in map(str, CHECKPOINTS):
        at = list({r["seed"]: r for r in rs if q in r}.values())  # one line per seed and budget, the last
        xs = [r[q] for r in at]
        if not xs:
            cells.append("not run")
            continue
        if len(xs) < len(seeds):
            cells[2] = f"{len(seeds)} ({q} queries: {len(xs)})"
        d = 4 if multi else 2
        s = f"{statistics.mean(xs):.{d}f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.{d}f}"
        if multi:
            goal = MULTI_GOALS.get(int(q))
            s += f" (worst {min(xs):.4f}" + (f", {sum(x < goal for x in xs)} under {goal})" if goal else ")")
        else:
            s += f" ({sum(r['opt' + q] for r in at)}/{len(xs)} opt"
            if ls and method != "local":
                med = statistics.median(r[q] for r in ls if q in r)
                s += f", {sum(x < med for x in xs)} below LS median"
            s += ")"
        cells.append(s)
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--single", default=",".join(SINGLE))
    ap.add_argument("--multi", default=",".join(MULTI))
    ap.add_argument("--single-methods", default="local,random,evolution,default")
    ap.add_argument("--multi-methods", default="random,nsga2,default")
    ap.add_argument("--queries", default=",".join(map(str, CHECKPOINTS)), help="budgets to report, e.g. 100")
    ap.add_argument("--tag", default="", help="stored with each line: which version of the code produced it")
    ap.add_argument("--out", default="benchmarks/results/search_robust.jsonl")
    ap.add_argument("--report", default="", help="print the tables of a results file and exit")
    a = ap.parse_args()
    if a.report:
        print(report(a.report))
        return
    run(a)


if __name__ == "__main__":
    main()
