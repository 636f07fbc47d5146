"""Score one candidate: global limits, latency on the target, proxy accuracy.

Raises ``Infeasible`` for a candidate a rule rejects (not evaluated, costs nothing) and
``CandidateError`` (or any exception) for one that fails; the engine records both and
goes on. With ``trial_timeout_s`` or ``trial_memory_mb`` set, each candidate runs in its
own child process (``hynas.search.backends.isolate``): a hang, a memory blow-up or a native crash
then fails that trial instead of the search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hynas.errors import UserError
from hynas.search.config import SearchConfig
from hynas.search.types import Evaluation
from hynas.space.arch import Arch
from hynas.space.spec import Space


class Infeasible(Exception):
    """A candidate rejected before building by a global limit (max params / MACs)."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule


def check_limits(space: Space, arch: Arch) -> dict[str, float]:
    """Params and analytic MACs, raising Infeasible when a global limit of the space is broken."""
    from hynas.cost import analytic_macs, params_fast

    macs = analytic_macs(arch)
    r = space.rules
    if r.max_macs is not None and macs > r.max_macs:
        raise Infeasible("max_macs", f"{macs / 1e6:.1f} M MACs > {r.max_macs / 1e6:.1f} M")
    params = params_fast(arch)
    if r.max_params is not None and params > r.max_params:
        raise Infeasible("max_params", f"{params / 1e6:.3f} M params > {r.max_params / 1e6:.3f} M")
    if r.min_params is not None and params < r.min_params:
        raise Infeasible("min_params", f"{params / 1e6:.3f} M params < {r.min_params / 1e6:.3f} M")
    if r.max_activation_mb is not None:
        from hynas.cost import activation_scale, predict_activation_bytes

        mb = predict_activation_bytes(arch) * activation_scale(space) / 2**20
        if mb > r.max_activation_mb:
            raise Infeasible("max_activation_mb", f"{mb:.1f} MB predicted activations > {r.max_activation_mb:g} MB")
    return {"params": float(params), "macs": float(macs)}


def limits_check(space: Space) -> Callable[[Arch], str | None]:
    """A sampling check function (for ``hynas.space.sample``) applying the global limits."""

    def check(arch: Arch) -> str | None:
        try:
            check_limits(space, arch)
        except Infeasible as e:
            return e.rule
        return None

    return check


def preflight(space: Space, tries: int = 200, seed: int = 0) -> None:
    """Refuse, before anything is written, a space whose rules and limits no sample satisfies.

    Rejection sampling with every rule and global limit applied; raises ``InfeasibleSpace``
    (a ``UserError``: exit code 2) naming the rules that rejected most samples, so the user
    learns which one to relax instead of watching a search skip draw after draw.
    """
    import random

    from hynas.space import sample

    sample(space, random.Random(seed), check=limits_check(space), max_tries=tries)


BASE_VALUES = ("accuracy", "latency_ms", "params_m", "macs_g")  # what every evaluation measures


def trained_scores(cfg: SearchConfig) -> list[str]:
    """The post-training scores (``hynas.proxy.shape.TRAINED_SCORES``) a config's objectives and constraints name."""
    wanted = [n for n in (*cfg.objectives, *(c.metric for c in cfg.parsed_constraints())) if n not in BASE_VALUES]
    if not wanted:
        return []
    from hynas.proxy.shape import TRAINED_SCORES

    return [n for n in dict.fromkeys(wanted) if n in TRAINED_SCORES]


def check_trained_scores(cfg: SearchConfig) -> None:
    """Refuse (exit 2, before anything is written) a post-training score where no model is trained."""
    names = trained_scores(cfg)
    if not names:
        return
    from hynas.search.problems.scorers import SCORERS

    what = ", ".join(names)
    if cfg.table is not None:
        raise UserError(f"--objectives/--constraint: {what} needs a trained candidate, and a --table search "
                        "trains none (it reads accuracies from the table). Drop it or search a space.")
    if not SCORERS.get(cfg.proxy).trains:
        raise UserError(f"--objectives/--constraint: {what} is measured on the candidate's trained model, and "
                        f"--proxy {cfg.proxy} is a zero-cost proxy (nothing is trained). Use --proxy train, "
                        "or drop it from --objectives and --constraint.")


def check_data_fits(data: Any, space: Space, name: str) -> None:
    """The dataset is of the space's input kind (and, for feature fields, has its schema); UserError otherwise."""
    kinds = {1: "1-D signals (channels x length)", 2: "2-D images"}
    fields = tuple(tuple(f) for f in getattr(data, "fields", ()))
    if bool(fields) != bool(space.input.fields):
        has = "feature fields" if fields else kinds.get(getattr(data, "dims", 2), "other data")
        wants = "feature fields" if space.input.fields else kinds.get(space.input.dims, "")
        raise UserError(f"--dataset {name} holds {has}, but space {space.name} takes {wants}.")
    # a categorical field may have fewer ids in the data than the space's table holds (room to spare), never more
    fits = lambda d, s: d == s or (d[:2] == s[:2] == (d[0], "cat") and d[2] <= s[2])
    if fields and not (len(fields) == len(space.input.fields) and all(map(fits, fields, space.input.fields))):
        mine = {f[0]: f for f in space.input.fields}
        theirs = {f[0]: f for f in fields}
        for n in list(mine) + list(theirs):
            if not (n in mine and n in theirs and fits(theirs[n], mine[n])):
                both_cat = n in mine and n in theirs and mine[n][1] == theirs[n][1] == "cat"
                over = " (vocabulary overflow)" if both_cat else ""
                raise UserError(f"--dataset {name}: field '{n}' is {_field_text(theirs.get(n))} in the data but "
                                f"{_field_text(mine.get(n))} in space {space.name}'s input.fields{over}.")
        raise UserError(f"--dataset {name}: the fields come in another order than space {space.name}'s input.fields "
                        f"({', '.join(theirs)} vs {', '.join(mine)}).")
    if getattr(data, "dims", 2) != space.input.dims:
        raise UserError(f"--dataset {name} holds {kinds.get(data.dims, 'other data')}, but space "
                        f"{space.name} takes {kinds.get(space.input.dims, '')} (input.dims: {space.input.dims}).")


def check_int8_data(cfg: SearchConfig, data: Any) -> None:
    """accuracy_int8 scores top-1 classification of images; another task or input kind is refused (exit 2)."""
    if "accuracy_int8" not in trained_scores(cfg):
        return
    from hynas.proxy.tasks import task_of

    task = task_of(data).name
    if task != "classify" or getattr(data, "dims", 2) != 2 or getattr(data, "fields", ()):
        raise UserError(f"--objectives/--constraint: accuracy_int8 measures int8 top-1 accuracy of an image "
                        f"classifier, and --dataset {cfg.dataset} is a {task} task"
                        f"{'' if getattr(data, 'dims', 2) == 2 else f' on {data.dims}-D inputs'}. "
                        "Use it with 2-D image classification data.")


def _field_text(f: Any) -> str:
    if f is None:
        return "absent"
    return f"categorical with {f[2]} ids" if f[1] == "cat" else f"dense of width {f[2]}"


class Evaluator:
    """Scores candidates for one search: loads the dataset once, then per arch measures and trains."""

    def __init__(self, cfg: SearchConfig, space: Space) -> None:
        from hynas.proxy.data import load_dataset
        from hynas.proxy.device import check_runtime

        self.cfg = cfg
        self.space = space
        self.recipe = cfg.train_recipe()
        check_runtime(self.recipe)  # a device or precision this machine lacks is refused once, not per candidate
        self.data = load_dataset(cfg.dataset, recipe=self.recipe)
        check_data_fits(self.data, space, cfg.dataset)
        check_int8_data(cfg, self.data)
        self.input_resolution = cfg.input_resolution or self.recipe.model_size(self.data.resolution)

    def proxy_arch(self, arch: Arch) -> Arch:
        """The arch as trained by the proxy: the dataset's channels and classes, at the recipe's training size."""
        d = self.data
        return arch.with_input(channels=d.channels, classes=d.classes, resolution=self.recipe.train_size(d.resolution))

    def latency_arch(self, arch: Arch) -> Arch:
        """The arch as built, timed and exported: the dataset's channels and classes, at the recipe's
        resolution (else the data's), so latency, params and MACs are those of the network deployed."""
        d = self.data
        return arch.with_input(channels=d.channels, classes=d.classes, resolution=self.input_resolution)

    def on_device(self, device: str) -> None:
        """Train this process's candidates on ``device`` (a parallel worker's GPU)."""
        from dataclasses import replace

        self.recipe = replace(self.recipe, device=device)
        self.cfg = replace(self.cfg, recipe=self.recipe.to_dict())

    def _seeded_model(self, arch: Arch) -> Any:
        """The proxy model with initial weights drawn from the search seed alone.

        Without this the weights would depend on the global RNG state left by earlier
        candidates, so the same arch would score differently after a resume, or in a child
        process, than in the uninterrupted run.
        """
        import torch

        from hynas.build import build_model

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed)
            return build_model(self.proxy_arch(arch))

    @property
    def isolated(self) -> bool:
        return self.cfg.trial_timeout_s is not None or self.cfg.trial_memory_mb is not None

    def __call__(self, arch: Arch, report: Callable[[int, float], bool] | None = None) -> Evaluation:
        """Score ``arch``; in a child process when a per-trial time or memory cap is set.

        The limits are checked here first (cheap, no child for a rejected candidate). In
        isolated mode the child sends its intermediate accuracies to this process, which runs
        ``report`` (the pruning rule, with the study) and answers whether to stop.
        """
        from hynas.search.backends.parallel import current_slot

        sizes = check_limits(self.space, self.latency_arch(arch))  # MACs of the model as deployed
        slot = current_slot()  # a --workers N search: always in a child, on the worker's cores (and GPU)
        if not self.isolated and slot is None:
            return self.score(arch, sizes, report)
        from hynas.search.backends.isolate import run_isolated

        fn, args = (self.score_in_slot, (arch, sizes, slot)) if slot is not None else (self.score, (arch, sizes))
        return run_isolated(fn, args, timeout_s=self.cfg.trial_timeout_s, memory_mb=self.cfg.trial_memory_mb,
                            report=report)

    def score_in_slot(self, arch: Arch, sizes: dict[str, float], slot: Any,
                      report: Callable[[int, float], bool] | None = None) -> Evaluation:
        """``score`` in a parallel worker's child process: pinned to the worker's cores, on its GPU if it has one."""
        from hynas.search.backends.parallel import enter_slot

        enter_slot(slot)
        if slot.device is not None:
            self.on_device(slot.device)
        return self.score(arch, sizes, report)

    def score(self, arch: Arch, sizes: dict[str, float],
              report: Callable[[int, float], bool] | None = None) -> Evaluation:
        """Latency on the target and proxy accuracy of an arch that passed the limits."""
        from hynas.latency import measure_latency, predict_latency

        t0 = time.perf_counter()
        timed = self.latency_arch(arch)
        lat = measure_latency(timed, self.cfg.target) if self.cfg.measure else predict_latency(timed, self.cfg.target, run_dir=self.cfg.run_dir)
        t_lat = time.perf_counter() - t0
        model = self._seeded_model(arch)
        attrs: dict[str, Any] = {"latency": lat.as_dict(), "latency_method": lat.method,
                                 "latency_seconds": round(t_lat, 3), "input_resolution": self.input_resolution,
                                 **sizes}
        from hynas.search.problems.scorers import SCORERS

        accuracy, extra = SCORERS.get(self.cfg.proxy).run(model, self.data, self.cfg, report)
        attrs.update(extra)
        trained = self.trained_values(model, attrs, report, arch=self.proxy_arch(arch))
        # On the machine a predictor was profiled on, a timing is rescaled to that machine's nominal
        # speed (a reference network timed alongside it), so candidates timed minutes apart on a
        # shared, throttling machine compare fairly; elsewhere it is the raw median.
        latency_ms = float(lat.nominal_ms if lat.nominal_ms else lat.median_ms)
        values = {"accuracy": accuracy, "latency_ms": latency_ms, "params_m": sizes["params"] / 1e6,
                  "macs_g": sizes["macs"] / 1e9, **trained}
        return Evaluation(values=values, attrs=attrs)

    def trained_values(self, model: Any, attrs: dict[str, Any], report: Callable[[int, float], bool] | None = None,
                       arch: Arch | None = None) -> dict[str, float]:
        """The post-training scores the search asks for, on the model just trained (same data, same size).

        Their headline values are returned (objective values); their detail (e.g. the drop per
        disruption level) goes into ``attrs``. A candidate pruned at a rung is not scored.
        """
        names = trained_scores(self.cfg)
        if not names or getattr(report, "stopped_at", None) is not None:
            return {}
        from hynas.proxy.shape import score_trained

        t0 = time.perf_counter()
        out = score_trained(names, model, self.data, seed=self.cfg.seed,
                            resolution=self.recipe.train_size(self.data.resolution), arch=arch,
                            int8_keep_bridges=self.cfg.int8_keep_bridges)
        attrs.update({k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                      for k, v in out.items() if k not in names})
        attrs["trained_scores_seconds"] = round(time.perf_counter() - t0, 3)
        return {n: float(out[n]) for n in names}
