"""The same checks must pass whatever the number of threads pyarrow and torch use.

pyarrow sizes its thread pool from ``OMP_NUM_THREADS`` when it is imported, and reads
CSV files differently on one thread, so each setting needs its own process: the checks
run in subprocesses with ``OMP_NUM_THREADS=1`` and ``OMP_NUM_THREADS=2``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THREADS = ["1", "2"]


def run_under_threads(threads: str, *test_files: str) -> subprocess.CompletedProcess:
    """Run pytest on ``test_files`` (relative to the repository) in a subprocess with
    ``OMP_NUM_THREADS=threads``; return the finished process (output captured)."""
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *test_files]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def assert_passed(process: subprocess.CompletedProcess, threads: str) -> None:
    tail = "\n".join((process.stdout + process.stderr).splitlines()[-30:])
    assert process.returncode == 0, f"checks failed with OMP_NUM_THREADS={threads}:\n{tail}"
    assert " passed" in process.stdout


@pytest.mark.parametrize("threads", THREADS)
def test_io_checks_pass_under_thread_setting(threads):
    """Reading CSV and Parquet (tests/test_io.py), whole and in chunks."""
    assert_passed(run_under_threads(threads, "tests/test_io.py"), threads)


@pytest.mark.parametrize("threads", THREADS)
def test_stream_checks_pass_under_thread_setting(threads):
    """Streaming gives the batch scores within the README's tolerance (tests/test_stream_cli.py:
    stdin, CSV output, bad rows, files), and the stream state checks (tests/test_streaming.py)."""
    process = run_under_threads(
        threads, "tests/test_stream_cli.py", "tests/test_streaming.py", "-k", "not follow_a_growing_file"
    )
    assert_passed(process, threads)


def test_default_threads_honour_tsae_threads_then_omp_num_threads(monkeypatch):
    from tsae.runtime import default_threads

    monkeypatch.delenv("TSAE_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2,1")  # OpenMP's nested form: the first level
    assert default_threads() == 2
    monkeypatch.setenv("TSAE_THREADS", "4")
    assert default_threads() == 4


def test_a_stream_leaves_the_process_thread_setting_alone(fitted, train):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        scorer = fitted["dense"].streaming(threads=1)
        scorer.update_many(train[["timestamp", "ch0", "ch1"]].iloc[:200])
        scorer.update(train[["timestamp", "ch0", "ch1"]].iloc[200].to_dict())
        scorer.flush()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
