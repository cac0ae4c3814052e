"""The command line answers --help, info and argument errors without importing the
heavy libraries (torch, scipy, matplotlib): what is imported is measured, not the time."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tsae.options import IMAGE_MODELS, SERIES_MODELS

HEAVY = ("torch", "scipy", "matplotlib", "sklearn")

_PROBE = """
import json, sys
from tsae_cli.main import app
try:
    app(sys.argv[1:], prog_name="tsae")
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nIMPORTED " + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)) + "\\n")
"""


def _imported(*args):
    run = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *map(str, args)], capture_output=True, text=True, timeout=120
    )
    line = [x for x in run.stderr.splitlines() if x.startswith("IMPORTED ")][-1]
    return json.loads(line[len("IMPORTED ") :]), run


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tsae import Detector

    path = tmp_path_factory.mktemp("startup") / "m.tsae"
    Detector(window=8, epochs=1, max_windows=64, threads=1).fit(np.sin(np.arange(400) / 5)).save(path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["fit", "--help"],
        ["score", "--help"],
        ["stream", "--help"],
        ["mnist", "--help"],
        ["mnist", "latent", "--help"],
        ["fit", "x.csv", "--threads", "-1"],
        ["fit", "x.csv", "--epochs", "zero"],
        ["score", "x.csv", "--chunk-rows", "many"],
        ["stream", "--threads", "0"],
        ["nonsense"],
    ],
)
def test_help_and_argument_errors_import_nothing_heavy(args):
    imported, run = _imported(*args)
    assert imported == [], f"tsae {' '.join(args)} imported {imported}"
    assert "Traceback" not in run.stderr


def test_info_imports_nothing_heavy(model_file):
    imported, run = _imported("info", model_file)
    assert imported == []
    assert '"window": 8' in run.stdout


def test_the_light_model_lists_match_the_registry():
    from tsae import list_models

    assert tuple(list_models()) == SERIES_MODELS
    assert tuple(list_models("image")) == IMAGE_MODELS


def test_detector_defaults_are_the_options_module_defaults():
    import inspect

    from tsae import Detector
    from tsae.options import DETECTOR_DEFAULTS

    signature = inspect.signature(Detector).parameters
    assert {k: signature[k].default for k in DETECTOR_DEFAULTS} == DETECTOR_DEFAULTS
