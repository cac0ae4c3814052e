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
