"""The project's layout rules: the library imports without the datasets package, and the
version is written once."""

import importlib.metadata
import subprocess
import sys

import tsae


def test_the_library_imports_without_tsae_datasets():
    """tsae_datasets uses tsae's errors; tsae must never import tsae_datasets (no cycle)."""
    code = (
        "import sys; sys.modules['tsae_datasets'] = None\n"
        "import tsae.detector, tsae.streaming, tsae.coldstart, tsae.filescore, tsae.course.experiments\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_version_is_written_once():
    assert importlib.metadata.version("tsae") == tsae.__version__
