"""Runs the backend-agnostic test directories on the other Keras backends.

Keras picks its backend once per process, so each backend gets its own
pytest process; this test fails with that run's output when it fails.
"""

import os
import subprocess
import sys

import keras
import pytest

from tests.conftest import REPO_ROOT

BACKEND_AGNOSTIC_TESTS = [
    "tests/layers",
    "tests/decoding",
    "tests/metrics",
    "tests/losses",
]
OTHER_BACKENDS = {"jax": "jax", "torch": "torch"}


@pytest.mark.parametrize("backend", sorted(OTHER_BACKENDS))
def test_suite_passes_on_backend(backend):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only the default (TensorFlow) run starts the others")
    pytest.importorskip(
        OTHER_BACKENDS[backend],
        reason=f"install {backend} to test the {backend} backend",
    )
    paths = [p for p in BACKEND_AGNOSTIC_TESTS if (REPO_ROOT / p).is_dir()]
    environment = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        # One process: the outer run already keeps both cores busy.
        [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", *paths],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} tests failed:\n"
        f"{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    )
