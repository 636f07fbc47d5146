"""Standalone runner of a hynas profile kit: times every model of the kit on this device.

Needs only Python 3.8+, numpy and the kit's runtime (no torch, no hynas): onnxruntime for an
ONNX kit; for a LiteRT kit ai-edge-litert, or tflite-runtime where a board ships that instead.
Copied into each kit as ``run_kit.py``; run it on the device from the kit directory:

    python3 run_kit.py            # writes timings.json beside manifest.json

Timing protocol (the same as hynas's own, ``hynas/latency/timing.py``): warm-up, then repeats
each timed on its own until a minimum count and time are reached and the two halves' medians
agree; the median and 10th/90th percentiles are kept, the round redone while the middle 80% is
too wide (the narrowest round is kept). A fixed reference network is timed interleaved with the
repeats, so the importer can rescale each time to the device's nominal speed. With one thread
the clock is the thread's CPU time (other processes do not count), else wall time.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time


def _quantile(s, q):
    i = q * (len(s) - 1)
    lo = int(i)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (i - lo)


def _stable(samples, within):
    half = len(samples) // 2
    a, b = statistics.median(samples[:half]), statistics.median(samples[half:])
    return abs(a - b) <= within * max(a, b)


def _round(run, p, clock, reference):
    t_end = time.perf_counter() + p["warmup_s"]
    run()
    while time.perf_counter() < t_end:
        run()
    samples, refs, owed, start = [], [], 0.0, time.perf_counter()
    while True:
        if owed >= 0:
            t0 = clock()
            reference()
            refs.append((clock() - t0) / 1e6)
            owed -= refs[-1]
        t0 = clock()
        run()
        ms = (clock() - t0) / 1e6
        owed += ms
        samples.append(ms)
        n, elapsed = len(samples), time.perf_counter() - start
        if n >= p["max_repeats"] or elapsed >= p["max_time_s"]:
            return samples, refs
        if n >= p["min_repeats"] and elapsed >= p["min_time_s"] and _stable(samples, p["stable_within"]):
            return samples, refs


def time_model(run, p, clock, reference):
    best = None
    gc.disable()
    try:
        for rounds in range(1, p["retries"] + 2):
            samples, refs = _round(run, p, clock, reference)
            s = sorted(samples)
            med = _quantile(s, 0.5)
            t = {"median_ms": med, "p10_ms": _quantile(s, 0.1), "p90_ms": _quantile(s, 0.9), "repeats": len(s),
                 "rounds": rounds, "reference_ms": statistics.median(refs)}
            t["spread"] = (t["p90_ms"] - t["p10_ms"]) / med if med > 0 else 0.0
            if best is None or t["spread"] < best["spread"]:
                best = t
            if t["spread"] <= p["max_spread"]:
                break
    finally:
        gc.enable()
    return best


def make_weights(model_path, weights):
    """Write the model's external float weights: normal noise of each tensor's mean and std (see the kit)."""
    import numpy as np

    if not weights:
        return None
    rng = np.random.default_rng(0)
    path = os.path.join(os.path.dirname(model_path), weights["file"])
    with open(path, "wb") as f:
        for offset, length, mean, std in weights["tensors"]:
            f.seek(offset)
            f.write(rng.normal(mean, std, length // 4).astype(np.float32).tobytes())
    return path


def ort_runner(path, shape, threads, weights=None):
    import numpy as np
    import onnxruntime as ort

    made = make_weights(path, weights)

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    finally:
        if made:
            os.remove(made)  # the session holds its own copy
    feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    return lambda: sess.run(None, feed)


def litert_interpreter():
    """The LiteRT interpreter class and its package version: ai-edge-litert, else tflite-runtime."""
    from importlib.metadata import version

    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, {"ai-edge-litert": version("ai-edge-litert")}
    except ImportError:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, {"tflite-runtime": version("tflite-runtime")}


def tflite_runner(path, shape, threads, weights=None):
    import numpy as np

    interpreter_cls, _ = litert_interpreter()
    it = interpreter_cls(model_path=path, num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    if tuple(inp["shape"]) != tuple(shape):
        raise ValueError("the model takes input " + str(tuple(inp["shape"])) + ", the manifest says " + str(tuple(shape)))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    index = inp["index"]

    def run():
        it.set_tensor(index, x)
        it.invoke()

    return run


RUNTIMES = {"onnxruntime": ort_runner, "litert": tflite_runner}
INSTALL = {"onnxruntime": "pip install onnxruntime numpy", "litert": "pip install ai-edge-litert numpy"}


def runtime_versions(runtime):
    """The runtime's version(s) here; exits with the install line when it is missing."""
    try:
        if runtime == "litert":
            return litert_interpreter()[1]
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}
    except ImportError:
        sys.exit(runtime + " is not installed for " + sys.executable + ": " + INSTALL[runtime])


def device_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Hardware", "Model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu_model": cpu, "cpu_count": os.cpu_count() or 1, "machine": platform.machine(),
            "os": platform.system(), "python": platform.python_version(), "platform": platform.platform(),
            "node": platform.node()}


def main():
    ap = argparse.ArgumentParser(description="Time the models of a hynas profile kit on this device.")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--kit", default=here, help="kit directory (default: this script's)")
    ap.add_argument("--out", default="", help="timings file (default: KIT/timings.json)")
    args = ap.parse_args()
    with open(os.path.join(args.kit, "manifest.json"), "rb") as f:
        raw = f.read()
    manifest = json.loads(raw)
    kind = manifest["target"].get("runtime", "onnxruntime")
    if kind not in RUNTIMES:
        sys.exit("this kit is for runtime " + repr(kind) + "; this runner knows " + ", ".join(RUNTIMES))
    versions = runtime_versions(kind)
    runner = RUNTIMES[kind]
    threads = int(manifest["target"]["threads"])
    clock = time.thread_time_ns if threads == 1 else time.perf_counter_ns
    ref_shape = manifest["reference"]["shape"]
    ref = manifest["reference"]
    reference = runner(os.path.join(args.kit, ref["file"]), ref_shape, threads, ref.get("weights"))
    entries, failures, t0 = {}, {}, time.perf_counter()
    todo = [(e, "units") for e in manifest["units"]] + [(e, "archs") for e in manifest["archs"]]
    for i, (e, kind) in enumerate(todo):
        try:
            run = runner(os.path.join(args.kit, e["file"]), e["shape"], threads, e.get("weights"))
            entries[e["id"]] = time_model(run, manifest["timing"][kind], clock, reference)
        except Exception as exc:  # noqa: BLE001 - one model the runtime refuses must not end the run
            failures[e["id"]] = type(exc).__name__ + ": " + str(exc)[:300]
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(todo)} timed in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    import hashlib

    out = {"format": "hynas-kit-timings", "version": 1, "kit_sha256": hashlib.sha256(raw).hexdigest(),
           "target": manifest["target"]["name"], "device": device_info(),
           "runtime": versions, "clock": "thread-cpu" if threads == 1 else "wall",
           "seconds": round(time.perf_counter() - t0, 1), "entries": entries, "failures": failures}
    path = args.out or os.path.join(args.kit, "timings.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"timed {len(entries)} models ({len(failures)} failed) in {out['seconds']} s; wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
