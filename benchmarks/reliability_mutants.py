"""Tally how hynas answers mutated space files: the numbers in docs/RELIABILITY.md.

    .venv/bin/python benchmarks/reliability_mutants.py --examples 1000

For each shipped space, hypothesis draws N mutants (tests/reliability/mutants.py: wrong
types, unknown keys, out-of-range and huge values, removed keys, empty lists, code-like
strings; 1-3 mutations each) and every one is loaded. Outcomes: still a valid space,
refused with a SpecError naming a field, refused at file level (YAML/size/alias), or
anything else (a bug: printed with its traceback).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from hypothesis import HealthCheck, given, settings

from hynas.errors import SpecError
from hynas.space import load_space, shipped_spaces
from tests.reliability.mutants import RAW_ATTACKS, dump, mutated_docs


def tally(space: str, examples: int, workdir: Path) -> collections.Counter:
    base = yaml.safe_load(shipped_spaces()[space].read_text())
    counts: collections.Counter = collections.Counter()
    path = workdir / f"{space}-mutant.yaml"

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mutated_docs(base))
    def run(case: tuple) -> None:
        doc, what = case
        path.write_text(dump(doc), encoding="utf-8")
        try:
            load_space(path)
            counts["valid"] += 1
        except SpecError as e:
            counts["refused: field" if e.path else "refused: file"] += 1
            counts["with allowed values"] += e.allowed is not None
        except Exception:  # noqa: BLE001 - the point is to find these
            counts["OTHER (bug)"] += 1
            print(f"[{space}] {what}\n{traceback.format_exc()}", file=sys.stderr)

    run()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=1000, help="mutants per shipped space")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    print("| space | mutants | valid | refused: field | refused: file | with allowed values | other | s |")
    print("|---|---|---|---|---|---|---|---|")
    for space in ("default", "ascan", "metaformer"):
        t0 = time.perf_counter()
        c = tally(space, args.examples, work)
        n = sum(c[k] for k in ("valid", "refused: field", "refused: file", "OTHER (bug)"))
        print(f"| {space} | {n} | {c['valid']} | {c['refused: field']} | {c['refused: file']} | "
              f"{c['with allowed values']} | {c['OTHER (bug)']} | {time.perf_counter() - t0:.0f} |")
    bad = 0
    for name, data in sorted(RAW_ATTACKS.items()):
        p = work / f"{name}.yaml"
        p.write_bytes(data)
        try:
            load_space(p)
            outcome = "LOADED (bug)"
            bad += 1
        except SpecError as e:
            outcome = str(e).split(": ", 1)[1][:90]
        print(f"attack {name}: {outcome}")
    print(f"whole-file attacks: {len(RAW_ATTACKS)}, not refused: {bad}")


if __name__ == "__main__":
    main()
