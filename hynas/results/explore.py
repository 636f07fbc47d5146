"""Design-space analysis as data: EDFs over samples of spaces, knob importance, block latency vs MACs.

- EDFs (Radosavovic et al., "On Network Design Spaces for Visual Recognition", ICCV 2019,
  and "Designing Network Design Spaces", CVPR 2020): a space is judged by the distribution
  of its members, not by its best one. F(x) = fraction of sampled archs with a score below x.
  For a space we sample N archs uniformly (an in-memory Optuna study with the random sampler,
  the space's rules and limits applied) and score each with a zero-cost proxy (cheap,
  untrained) and latency on the target (the target's predictor when one is fitted, else
  measured with a short timing policy). For a run, the trials' own scores are used.
- Knob importance: Optuna's fANOVA evaluator (Hutter et al. 2014) over the decisions of the
  sampled archs or a run's trials, one ranking per objective.
- Latency vs MACs per block (the LowFormer observation, Nottebaum et al. 2025: MACs do not
  predict latency across block families): each body block is built at widths chosen so its
  MACs match a few fixed levels, on one map size, and timed on the user's target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hynas.space.arch import Arch

Progress = Callable[[str], None]
NORULES = "@norules"


@dataclass
class Sampled:
    """Scored members of one space (or the trials of one run), and the study holding their decisions."""

    label: str
    accuracy_name: str  # what "accuracy" is: a zero-cost proxy name, or the run's proxy
    archs: list[Arch] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    params: list[float] = field(default_factory=list)
    macs: list[float] = field(default_factory=list)
    latency_method: str = "measured"
    study: Any = None
    refused: int = 0  # sampled archs that cannot run at the chosen resolution (left out)
    failures: list[str] = field(default_factory=list)  # members that raised while scored (left out)


@dataclass
class BlockPoint:
    type: str
    family: str
    attention: bool
    width: int
    macs: int
    latency_ms: float
    level_macs: float = 0.0  # the MAC level the width was matched to


def load_variant(spec: str) -> tuple[Any, str]:
    """A space by path or name; ``NAME@norules`` drops its layout rules (attention stage, asymmetry), not its
    budgets nor its output stride (a structural requirement: the head needs the map it was sized for)."""
    from hynas.space import load_space
    from hynas.space.spec import Rules

    if spec.endswith(NORULES):
        sp = load_space(spec[: -len(NORULES)])
        r = sp.rules
        return replace(sp, rules=Rules(max_params=r.max_params, max_macs=r.max_macs, min_params=r.min_params,
                                          max_activation_mb=r.max_activation_mb, output_stride=r.output_stride)), \
            f"{sp.name} (no layout rules)"
    sp = load_space(spec)
    return sp, sp.name


def probe_data(channels: int, resolution: int) -> Any:
    """A few hundred real digits resized and channel-repeated to a space's input (for zero-cost proxies)."""
    import torch.nn.functional as F

    from hynas.proxy.data import load_dataset

    d = load_dataset("digits")

    def fit(x: Any) -> Any:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
        return x.repeat(1, channels, 1, 1) if x.shape[1] != channels else x

    return replace(d, name=f"digits@{channels}x{resolution}", train_x=fit(d.train_x[:256]),
                   train_y=d.train_y[:256], val_x=fit(d.val_x[:64]), val_y=d.val_y[:64])


def latency_of(arch: Arch, target: str, method: str) -> tuple[float, str]:
    """(ms, "predicted"|"measured"): the predictor when asked (or 'auto' and one exists), else timing."""
    from hynas.errors import UserError
    from hynas.latency import measure_latency, predict_latency
    from hynas.latency.timing import FAST

    if method in ("auto", "predicted"):
        try:
            return float(predict_latency(arch, target).median_ms), "predicted"
        except UserError:
            if method == "predicted":
                raise
    return float(measure_latency(arch, target, policy=FAST).median_ms), "measured"


def sample_space(spec: str, n: int, *, seed: int = 0, proxy: str = "naswot", target: str = "ort-cpu",
                 latency: str = "auto", resolution: int | None = None, progress: Progress | None = None) -> Sampled:
    """N uniform members of a space, each scored by a zero-cost proxy and latency on the target."""
    import optuna

    from hynas.build import block_plan, build_model
    from hynas.cost import analytic_macs, params_fast
    from hynas.errors import ArchError
    from hynas.proxy.zero_cost import score
    from hynas.search.problems.evaluate import limits_check
    from hynas.space import OptunaChooser, decode, rule_violations

    space, label = load_variant(spec)
    res = resolution or space.input.resolution
    label += f" @{res}px" if res != space.input.resolution else ""
    data = probe_data(space.input.channels, res)
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    out = Sampled(label, proxy, study=study)
    limits, seen, tries = limits_check(space), set(), 0
    methods = set()
    while len(out.archs) < n and tries < 50 * n:
        tries += 1
        trial = study.ask()
        arch, _ = decode(space, OptunaChooser(trial))
        if rule_violations(space, arch) or limits(arch) or arch.hash in seen:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        seen.add(arch.hash)
        a = arch.with_input(resolution=res)
        try:
            block_plan(a)
        except ArchError:  # e.g. a 7x7 window at a reduced resolution: not a member at this input
            out.refused += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        try:
            acc = float(score(proxy, build_model(a), data, seed=seed))
            ms, how = latency_of(a, target, latency)
        except Exception as e:  # noqa: BLE001 - one broken member must not end the analysis; it is counted
            out.failures.append(f"{a.summary()}: {type(e).__name__}: {e}"[:300])
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        methods.add(how)
        study.tell(trial, [acc, ms])
        for lst, v in ((out.archs, a), (out.accuracy, acc), (out.latency_ms, ms), (out.params, params_fast(a)),
                       (out.macs, analytic_macs(a))):
            lst.append(v)
        if progress:
            progress(f"{label}: {len(out.archs)}/{n} sampled ({proxy} {acc:.3g}, {ms:.3f} ms {how})")
    out.latency_method = "/".join(sorted(methods)) or latency
    return out


def run_samples(run_dir: str) -> Sampled:
    """A run's completed trials as a sample of its space (trained proxy accuracy, the run's latency)."""
    from hynas.results.trials import load_run
    from hynas.search.storage.rundir import open_study

    run = load_run(run_dir)
    cfg = run.meta["config"]
    from hynas.search.problems.scorers import SCORERS

    detail = SCORERS.get(cfg["proxy"]).detail(cfg)
    acc_name = f"{cfg['proxy']} ({detail})" if detail else cfg["proxy"]
    out = Sampled(f"run {run_dir}", acc_name, study=open_study(run.meta))
    for t in run.complete():
        out.archs.append(t.arch)
        out.accuracy.append(float(t.values["accuracy"]))
        out.latency_ms.append(float(t.values.get("latency_ms", t.attrs.get("latency", {}).get("median_ms", math.nan))))
        out.params.append(float(t.attrs.get("params", math.nan)))
        out.macs.append(float(t.attrs.get("macs", math.nan)))
    out.latency_method = "/".join(sorted({t.attrs.get("latency_method", "measured") for t in run.complete()}))
    return out


def edf(values: list[float]) -> tuple[list[float], list[float]]:
    """Sorted values and F(x) = fraction of samples <= x (the empirical distribution function)."""
    xs = sorted(v for v in values if not math.isnan(v))
    return xs, [(i + 1) / len(xs) for i in range(len(xs))]


def importance(study: Any, objective_names: list[str], seed: int = 0) -> dict[str, dict[str, float]]:
    """fANOVA importance of each decision, per objective (empty when too few trials or decisions)."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: dict[str, dict[str, float]] = {}
    if len(done) < 3:
        return out
    for i, name in enumerate(objective_names):
        try:
            imp = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed),
                                        target=lambda t, i=i: t.values[i])
        except (RuntimeError, ValueError, optuna.exceptions.OptunaError):
            imp = {}
        out[name] = {k: float(v) for k, v in imp.items()}
    return out


def matched_width(cls: Any, target_macs: float, h: int, knobs: dict[str, Any]) -> tuple[int, int] | None:
    """The width (a multiple of the block's quantum) whose MACs at an h x h map are closest to the target."""
    from hynas.results.landmarks import _width_quantum

    q = _width_quantum({"knobs": knobs})
    best = None
    for w in range(q, 2049, q):
        why = getattr(cls, "check_map", None)
        if why and why(h, h, 1, **knobs):
            return None
        m = int(cls.macs(w, w, 1, h, h, **knobs))
        if best is None or abs(math.log(m / target_macs)) < abs(math.log(best[1] / target_macs)):
            best = (w, m)
        if m > 2 * target_macs:
            break
    return best


def block_latency(types: list[str], *, target: str = "ort-cpu", map_size: int = 14,
                  macs_levels: tuple[float, ...] = (5e6, 20e6, 80e6), progress: Progress | None = None
                  ) -> list[BlockPoint]:
    """Each body block at MAC-matched widths on one map size, timed on the target."""
    from hynas.blocks import block_class
    from hynas.build import Unit
    from hynas.latency import measure_unit, resolve_target
    from hynas.latency.timing import FAST

    tgt = resolve_target(target)
    points = []
    for t in types:
        cls = block_class(t)
        info = cls.block_info
        knobs = {k: v.default for k, v in info.knobs.items()}
        for level in macs_levels:
            wm = matched_width(cls, level, map_size, knobs)
            if wm is None:
                break
            unit = Unit("body", t, wm[0], wm[0], 1, map_size, map_size, tuple(sorted(knobs.items())), 0)
            try:
                ms = measure_unit(unit, tgt, FAST).median_ms
            except Exception:  # noqa: BLE001 - a block that cannot be timed here is left out, not fatal
                break
            points.append(BlockPoint(t, info.family, bool(info.attention), wm[0], wm[1], float(ms), level))
            if progress:
                progress(f"{t} @ {wm[0]} ch: {wm[1] / 1e6:.1f} M MACs, {ms:.3f} ms")
    return points


def body_types(spaces: list[Any]) -> list[str]:
    """The body block types a set of spaces can use (sorted)."""
    names: set[str] = set()
    for sp in spaces:
        for st in sp.stages:
            for seg in st.segments:
                opts = list(seg.options) + [o for pos in (seg.sequence or ()) for o in pos]
                names.update(o.type for o in opts)
    return sorted(names)




def layout_table(run_dir: str, score: str = "shape_sensitivity") -> str:
    """A run's trials with ``score`` beside where attention sits in their layout, and the rank correlations.

    ``attention_share`` (fraction of body blocks that attend) and ``attention_start`` (first stage
    with attention; stages + 1 for a pure conv stack) come from ``hynas.proxy.shape.layout_features``.
    Spearman's rho over the completed trials; '' when no trial recorded ``score``.
    """
    from scipy.stats import spearmanr

    from hynas.proxy.shape import layout_features
    from hynas.results.trials import load_run

    rows = []
    for t in load_run(run_dir).complete():
        v = t.values.get(score, t.attrs.get(score))
        if t.arch is not None and isinstance(v, (int, float)):
            f = layout_features(t.arch.to_dict())
            rows.append((t.number, f["attention_share"], f["attention_start"], float(t.values["accuracy"]), float(v)))
    if not rows:
        return ""
    lines = [f"{score} and layout, {len(rows)} completed trials of {run_dir}:",
             f"{'trial':>5s} {'attn share':>10s} {'attn start':>10s} {'accuracy':>8s} {score:>17s}"]
    lines += [f"{n:>5d} {sh:>10.2f} {st:>10.0f} {acc:>8.3f} {v:>17.4f}" for n, sh, st, acc, v in
              sorted(rows, key=lambda r: (r[1], r[2]))]
    for j, name in ((1, "attention_share"), (2, "attention_start")):
        xs, ys = [r[j] for r in rows], [r[4] for r in rows]
        rho = spearmanr(xs, ys).statistic if len(set(xs)) > 1 and len(set(ys)) > 1 else math.nan
        lines.append(f"Spearman rho({score}, {name}) = {rho:.2f}" if not math.isnan(rho) else
                     f"Spearman rho({score}, {name}): undefined ({name} or {score} is the same on every trial)")
    return "\n".join(lines)
