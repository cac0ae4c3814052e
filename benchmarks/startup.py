"""How long the `tsae` command takes to answer when it does no real work.

Side by side in one run, median of --repeat runs each: a bare Python start, `tsae
--help`, an argument error, `tsae info MODEL`, and `python -c "import torch"` (what
every command paid before the commands imported torch lazily). Writes
benchmarks/results/startup.md.

    python benchmarks/startup.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TSAE = Path(sys.executable).parent / "tsae"


def _seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.md")
    args = parser.parse_args()

    from tsae import Detector

    model = Path(tempfile.mkdtemp()) / "m.tsae"
    Detector(window=8, epochs=1, max_windows=64, threads=1).fit(np.sin(np.arange(400) / 5)).save(model)
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "tsae --help": [str(TSAE), "--help"],
        "tsae fit x.csv --threads -1 (argument error)": [str(TSAE), "fit", "x.csv", "--threads", "-1"],
        "tsae info model.tsae": [str(TSAE), "info", str(model)],
        "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
    }
    results = {name: _seconds(command, args.repeat) for name, command in cases.items()}
    base = results["tsae --help"]
    lines = [
        "# CLI start-up",
        "",
        f"`python benchmarks/startup.py --repeat {args.repeat}`: median wall time of {args.repeat} runs each, "
        f"side by side in one run; {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}. No torch threads are used (nothing is computed).",
        "",
        "| command | median s | x `tsae --help` |",
        "|---|---:|---:|",
        *[f"| {name} | {sec:.3f} | {sec / base:.2f} |" for name, sec in results.items()],
        "",
        "Target (issue 11): `--help`, `info` and argument errors under 1 s. They import neither",
        "torch, scipy nor matplotlib (tests/test_cli_startup.py checks the module list).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
