"""Check that generated ``model.py`` files are the built networks: same outputs, without hynas.

For each arch the parent process builds the model with hynas, saves its ``state_dict``, an
input and the output, and writes the generated source. A fresh interpreter with ``hynas``
blocked (``sys.modules['hynas'] = None``: any ``import hynas...`` in the generated file
fails) loads each file, builds it, loads the weights with ``weights_only=True``, compares
outputs and optionally exports the generated network to ONNX. One child checks a whole
batch of archs, so the interpreter start-up is paid once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hynas.space.arch import Arch

_CHILD = r'''
import importlib.util, json, sys, warnings
sys.modules["hynas"] = None  # the generated files must not need hynas
import torch
torch.set_num_threads(1)
jobs = json.load(open(sys.argv[1]))
out = []
for job in jobs:
    res = {"name": job["name"]}
    try:
        spec = importlib.util.spec_from_file_location("gen_" + job["name"], job["source"])
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        net = mod.build().eval()
        net.load_state_dict(torch.load(job["weights"], weights_only=True))
        x, y_ref = torch.load(job["io"], weights_only=True)
        with torch.no_grad():
            y = net(x)
        res["max_abs_diff"] = float((y - y_ref).abs().max())
        if job["onnx"]:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, (x,), job["source"][:-3] + ".onnx", dynamo=False, opset_version=17)
            res["onnx"] = True
            try:
                import onnxruntime as ort
            except ImportError:
                ort = None
            if ort is not None:  # the file must load and compute the same network
                sess = ort.InferenceSession(job["source"][:-3] + ".onnx", providers=["CPUExecutionProvider"])
                got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
                res["onnx_diff"] = float((got - y_ref).abs().max())
                if res["onnx_diff"] > 1e-3 * max(1.0, float(y_ref.abs().max())):
                    res["error"] = f"onnxruntime differs by {res['onnx_diff']:.3g}"
    except Exception as e:
        res["error"] = type(e).__name__ + ": " + str(e)[:300]
    out.append(res)
json.dump(out, open(sys.argv[2], "w"))
'''


@dataclass
class Check:
    name: str
    max_abs_diff: float | None
    onnx: bool
    error: str | None


def prepare(arch: Arch, name: str, workdir: Path, seed: int = 0) -> dict:
    """Write source, weights and a reference input/output for one arch; return the child's job."""
    import torch

    from hynas.build import build_model
    from hynas.export.codegen import generate_source

    torch.manual_seed(seed)
    model = build_model(arch).eval()
    _perturb_norms(model, seed)
    x = torch.randn(arch.input_shape(2), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        y = model(x)
    src = workdir / f"{name}.py"
    src.write_text(generate_source(arch), encoding="utf-8")
    torch.save(model.state_dict(), workdir / f"{name}.pt")
    torch.save((x, y), workdir / f"{name}.io.pt")
    return {"name": name, "source": str(src), "weights": str(workdir / f"{name}.pt"),
            "io": str(workdir / f"{name}.io.pt")}


def _perturb_norms(model: object, seed: int) -> None:
    """Give norm statistics and zero-initialised scales non-trivial values so every weight matters."""
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, buf in model.named_buffers():  # type: ignore[attr-defined]
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
        for p in model.parameters():  # type: ignore[attr-defined]
            if p.ndim <= 1 and float(p.abs().sum()) == 0.0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def run_child(jobs: list[dict], workdir: Path, timeout_s: float = 1800) -> list[Check]:
    """Run the checks of ``jobs`` in one fresh interpreter with hynas blocked."""
    spec, result = workdir / "jobs.json", workdir / "results.json"
    spec.write_text(json.dumps(jobs), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(spec), str(result)], check=False, cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"equivalence child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rows = json.loads(result.read_text(encoding="utf-8"))
    return [Check(r["name"], r.get("max_abs_diff"), bool(r.get("onnx")), r.get("error")) for r in rows]


def check_archs(archs: list[tuple[str, Arch]], workdir: Path, onnx: set[str] | bool = True) -> list[Check]:
    """Prepare every (name, arch), then check them all in one child; ``onnx`` names those to export."""
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name, arch in archs:
        job = prepare(arch, name, workdir)
        job["onnx"] = onnx if isinstance(onnx, bool) else name in onnx
        jobs.append(job)
    return run_child(jobs, workdir)


def shrink(arch: Arch, divisor: int) -> Arch:
    """Fewer channels (÷divisor) and the smallest input (of 32/64/112/224) every block accepts.

    The same block code runs on less work: quick equivalence checks use it; the benchmark
    checks the archs as sampled.
    """
    from hynas.build import block_plan
    from hynas.errors import ArchError
    from hynas.results.landmarks import scale_widths

    small = scale_widths(arch, divisor)
    for res in (32, 64, 112, 224):
        if res >= arch.input["resolution"]:
            break
        cand = small.with_input(resolution=res)
        try:
            block_plan(cand)
            return cand
        except ArchError:
            continue
    return small


def shipped_archs(per_space: int, seed: int = 0, divisor: int = 1,
                  only: set[str] | None = None) -> dict[str, list[tuple[str, Arch]]]:
    """``per_space`` distinct random feasible archs from every shipped space, and every reference model.

    With ``divisor`` > 1 every arch is shrunk (``shrink``) to keep quick checks quick; ``only`` draws just the
    named sets (space names, ``reference``); a space's draws do not depend on which others are drawn.
    """
    import random

    from hynas.results.landmarks import reference_files
    from hynas.search.problems.evaluate import limits_check
    from hynas.space import fixed_arch, load_space, sample, shipped_spaces

    out: dict[str, list[tuple[str, Arch]]] = {}
    for name, path in shipped_spaces().items():
        if only is not None and name not in only:
            continue
        sp = load_space(path)
        rng, check, seen = random.Random(seed), limits_check(sp), {}
        for _ in range(20 * per_space):  # distinct archs; a small space yields all it has
            if len(seen) == per_space:
                break
            seen.setdefault(sample(sp, rng, check), None)
        out[name] = [(f"{name}_{i}", a) for i, a in enumerate(seen)]
    if only is None or "reference" in only:
        out["reference"] = [(p.stem, fixed_arch(load_space(p))) for p in reference_files()]
    if divisor > 1:
        out = {k: [(n, shrink(a, divisor)) for n, a in v] for k, v in out.items()}
    return out
