"""A real search on a generated 96-px ImageFolder that streams from disk, then plot + export, with peak memory.

Runs ``hynas search`` (then ``hynas plot`` and ``hynas export --onnx``) as child processes and
samples the proportional set size (PSS: shared pages split between the processes sharing
them, so DataLoader workers forked from the search are not counted twice) of the whole
process tree every 0.2 s; reports the peak per command. Generate the folder first:

    python benchmarks/trainer_imagefolder.py /tmp/folder96
    python benchmarks/trainer_streamed.py /tmp/folder96 --run-dir /tmp/run96 --budget 3 --train-steps 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import psutil


def peak_pss(cmd: list[str]) -> tuple[int, float, str]:
    """(exit code, peak PSS of the process tree in MiB, output)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        total = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        peak = max(peak, total)
        time.sleep(0.2)
    out = proc.stdout.read() if proc.stdout else ""
    return proc.wait(), peak / 2**20, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder")
    p.add_argument("--run-dir", default="/tmp/run96")
    p.add_argument("--budget", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    a = p.parse_args()
    hynas = [sys.executable, "-m", "hynas"]
    steps = [("search", [*hynas, "search", "--dataset", a.folder, "--budget", str(a.budget), "--train-steps",
                         str(a.train_steps), "--batch-size", str(a.batch_size), "--augment", "light",
                         "--run-dir", a.run_dir]),
             ("plot", [*hynas, "plot", a.run_dir]),
             ("export", [*hynas, "export", a.run_dir, "--pick", "knee", "--onnx", "--out", f"{a.run_dir}/model.py"])]
    rows = []
    for name, cmd in steps:
        t0 = time.time()
        code, mib, out = peak_pss(cmd)
        rows.append({"step": name, "exit": code, "peak_pss_mib": round(mib, 1), "wall_s": round(time.time() - t0, 1)})
        print(out, file=sys.stderr)
        if code:
            break
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
