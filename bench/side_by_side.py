#!/usr/bin/env python3
"""One benchmark, run from two commits in turn, in one run: the ratio of this tree's figures to a baseline's.

    .venv/bin/python bench/side_by_side.py --baseline REV [--rounds 3] [--json OUT] -- bench/rating.py [ARGS]

The machine is shared and noisy, so figures taken on different days do not
compare. This takes the baseline commit into a temporary git worktree and runs
the benchmark script alternately from the baseline and from this tree (B, T,
B, T, ...), each run with ``--json``, the same arguments and the same Python
environment; the other tree's code is kept out by PYTHONPATH (the script's own
subprocesses, such as ``coder serve``, inherit it) and Python's -P (the script's own folder is not put
first on the path, where a benchmark named like a standard module would shadow it). Every numeric figure
that both trees report is printed with the median over the rounds for each,
and the ratio this/baseline (above 1: this tree takes longer, or has more of
it). The benchmark script must exist at the baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def leaves(data, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON document by its path (a.b.c); booleans and text left out."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(leaves(value, f"{prefix}{key}."))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out[prefix.rstrip(".")] = float(data)
    return out


def run(tree: Path, script: str, args: list[str], out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-P", str(tree / script), *args, "--json", str(out)], cwd=tree, env=env, check=True)
    return leaves(json.loads(out.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the commit to compare with (e.g. main~3, a tag)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures and ratios here")
    parser.add_argument("bench", nargs=argparse.REMAINDER, help="-- the benchmark script and its arguments")
    args = parser.parse_args()
    bench = [a for a in args.bench if a != "--"]
    if not bench:
        parser.error("name the benchmark script after --")
    script, script_args = bench[0], bench[1:]
    commit = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    scratch = Path(tempfile.mkdtemp(prefix="coder-side-by-side-"))
    baseline = scratch / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(baseline), commit], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        for folder in ("models",):  # git-ignored inputs the benchmarks read
            if (ROOT / folder).is_dir():
                (baseline / folder).mkdir(exist_ok=True)
                for entry in (ROOT / folder).iterdir():
                    if not (baseline / folder / entry.name).exists():
                        (baseline / folder / entry.name).symlink_to(entry)
        figures: dict[str, dict[str, list[float]]] = {"baseline": {}, "this": {}}
        for r in range(args.rounds):
            for name, tree in (("baseline", baseline), ("this", ROOT)):
                print(f"round {r + 1}/{args.rounds}: {name} ({commit if name == 'baseline' else head})", flush=True)
                for key, value in run(tree, script, script_args, scratch / f"{name}-{r}.json").items():
                    figures[name].setdefault(key, []).append(value)
        rows = []
        for key in figures["this"]:
            if key in figures["baseline"]:
                b, t = statistics.median(figures["baseline"][key]), statistics.median(figures["this"][key])
                rows.append({"figure": key, "baseline": b, "this": t, "ratio": t / b if b else None})
        width = max((len(r["figure"]) for r in rows), default=10)
        print(f"\n{'figure':{width}s}  {'baseline ' + commit:>16s}  {'this ' + head:>16s}  ratio")
        for r in rows:
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "–"
            print(f"{r['figure']:{width}s}  {r['baseline']:16.1f}  {r['this']:16.1f}  {ratio}")
        if args.json:
            args.json.write_text(json.dumps({"baseline": commit, "this": head, "rounds": args.rounds,
                                             "bench": bench, "figures": rows}, indent=2) + "\n")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, capture_output=True)
        subprocess.run(["rm", "-rf", str(scratch)])


if __name__ == "__main__":
    main()
