"""`python -m tests`: the whole suite on every Keras backend installed.

Keras picks its backend once per process, so each backend gets its own
pytest run, as Keras and keras-hub run theirs: the whole suite on
TensorFlow (the zoo's data pipelines and export need it), then the
backend-agnostic folders (`BACKEND_AGNOSTIC`) again with
`KERAS_BACKEND=jax` and, if installed, `KERAS_BACKEND=torch`. Every run
is a plain pytest run whose report is printed as it goes; the exit status
is the first failing run's (0 if all passed).

Usage:

    python -m tests                 # every backend
    python -m tests --backend jax   # one backend's run
    python -m tests -- -k beam      # extra pytest arguments, every run
    python -m tests --record-costs  # also rewrite tests/group_costs.json
"""

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import time

# The folders whose tests use only `keras.ops` and NumPy (and TensorFlow
# for writing summaries, which works beside any backend).
BACKEND_AGNOSTIC = (
    "tests/layers",
    "tests/decoding",
    "tests/losses",
    "tests/metrics",
    "tests/callbacks",
    "tests/visualization",
)
BACKENDS = ("tensorflow", "jax", "torch")
COSTS = pathlib.Path(__file__).with_name("group_costs.json")


def backend_runs(backends, extra):
    """The `(backend, pytest arguments)` of each run, installed only."""
    runs = []
    for backend in backends:
        if importlib.util.find_spec(backend) is None:
            print(f"{backend} is not installed: its tests are skipped")
            continue
        paths = [] if backend == "tensorflow" else list(BACKEND_AGNOSTIC)
        runs.append((backend, [*paths, *extra]))
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests")
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument(
        "--record-costs",
        action="store_true",
        help="write each test group's seconds to tests/group_costs.json, "
        "which orders the groups of later runs (costliest first)",
    )
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    status = 0
    for backend, arguments in backend_runs(
        args.backend or BACKENDS, args.pytest_args
    ):
        print(f"\n=== KERAS_BACKEND={backend} pytest {' '.join(arguments)}")
        start = time.perf_counter()
        environment = dict(os.environ, KERAS_BACKEND=backend)
        if args.record_costs:
            environment["KERAS_ATTENTION_RECORD_COSTS"] = str(COSTS)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *arguments], env=environment
        )
        minutes = (time.perf_counter() - start) / 60
        print(f"=== {backend}: exit {result.returncode} in {minutes:.1f} min")
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
