import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

# JAX compiles every operation it runs, and the tests' models are tiny:
# compile time, not the compiled code's speed, is what a JAX run waits for,
# and without LLVM's costly passes it compiles faster (about 15% of the
# JAX run). TensorFlow's runs keep XLA's defaults: the zoo's tests decode
# hundreds of sentences with XLA-compiled loops, which the flags slow down.
# Set before Keras starts its backend.
FAST_COMPILE_XLA_FLAGS = (
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
if os.environ.get("KERAS_BACKEND") == "jax":
    _xla_flags = os.environ.get("XLA_FLAGS", "").split()
    os.environ["XLA_FLAGS"] = " ".join(
        _xla_flags + [f for f in FAST_COMPILE_XLA_FLAGS if f not in _xla_flags]
    )

# Tests build the same programs again (a parametrized test's other cases,
# the same tiny model in another file): with JAX's persistent compilation
# cache each is compiled once per run (about 10% of the JAX run's CPU
# time). The folder is this run's, shared by its xdist workers (they
# inherit the variable) and removed at the end.
_OWN_JAX_CACHE = None
if (
    os.environ.get("KERAS_BACKEND") == "jax"
    and "JAX_COMPILATION_CACHE_DIR" not in os.environ
):
    _OWN_JAX_CACHE = tempfile.mkdtemp(prefix="keras_attention_jax_cache_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_JAX_CACHE
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# Seconds each xdist group (a test file, or a group a test names with
# `pytest.mark.xdist_group`) took in a recorded run: the heaviest groups
# are scheduled first, so that no long file starts last and runs alone.
# `python -m tests --record-costs` rewrites it.
GROUP_COSTS = pathlib.Path(__file__).with_name("group_costs.json")
# Seconds per group of this run, with KERAS_ATTENTION_RECORD_COSTS set.
_RECORDED = {}
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def to_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _group(item):
    """The xdist group of a test: its own mark's, else its file."""
    marks = list(item.iter_markers("xdist_group"))
    if marks:
        return str(
            marks[0].args[0] if marks[0].args else marks[0].kwargs["name"]
        )
    return item.nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test file is one xdist group, and the costliest groups go first.

    With `--dist loadgroup` a worker runs a whole group (its module
    fixtures are built once); without `--loadscope-reorder` groups are
    handed out in collection order, which this sorts by recorded cost
    (unknown groups last, in their own order).
    """
    costs = json.loads(GROUP_COSTS.read_text()) if GROUP_COSTS.is_file() else {}
    backend = keras.backend.backend()
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(_group(item)))
    order = {item.nodeid: index for index, item in enumerate(items)}
    items.sort(
        key=lambda item: (
            -costs.get(f"{backend} {_group(item)}", 0.0),
            order[item.nodeid],
        )
    )


def pytest_runtest_logreport(report):
    """Adds each test phase's seconds to its group, for `--record-costs`."""
    if os.environ.get("KERAS_ATTENTION_RECORD_COSTS"):
        group = f"{keras.backend.backend()} {report.nodeid.rpartition('@')[2]}"
        _RECORDED[group] = _RECORDED.get(group, 0.0) + report.duration


def pytest_sessionfinish(session):
    if _OWN_JAX_CACHE:
        shutil.rmtree(_OWN_JAX_CACHE, ignore_errors=True)
    path = os.environ.get("KERAS_ATTENTION_RECORD_COSTS")
    if path and _RECORDED and not hasattr(session.config, "workerinput"):
        recorded = (
            json.loads(pathlib.Path(path).read_text())
            if (pathlib.Path(path).is_file())
            else {}
        )
        recorded.update({k: round(v, 1) for k, v in _RECORDED.items()})
        pathlib.Path(path).write_text(
            json.dumps(dict(sorted(recorded.items())), indent=1) + "\n"
        )


@pytest.fixture(autouse=True)
def reset_dtype_policy():
    """Keeps a test that sets a dtype policy itself from leaking it.

    The layer tests set mixed precision policies directly. Training
    restores the policy it sets (`tests/zoo/test_trainer.py` checks that
    before this fixture runs).
    """
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def gradient(function, inputs):
    """d sum(function(inputs)) / d inputs with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(function(inputs))
        return tape.gradient(total, inputs).numpy()
    if backend == "jax":
        import jax

        return np.asarray(
            jax.grad(lambda x: function(x).sum())(jax.numpy.asarray(inputs))
        )
    import torch

    inputs = torch.tensor(inputs, requires_grad=True)
    function(inputs).sum().backward()
    return inputs.grad.numpy()


@pytest.fixture
def eager_functions():
    """Runs TensorFlow's `tf.function`s eagerly for one test.

    A tiny model's training run spends most of its time tracing and
    compiling its train step and decoders: run eagerly, the same
    operations on the same state take about half as long (a tiny
    captioning run: 5.9 s against 12.5 s). For tests of what a run
    computes and records, not of its compilation: the main jobs
    (`run_cli`), the export tests and the tutorials stay compiled.
    Nothing changes on another backend.
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


def subprocess_env(backend="tensorflow", **overrides):
    """The environment of a test's subprocess: a backend, no GPU, quiet TF."""
    return dict(
        os.environ,
        KERAS_BACKEND=backend,
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="3",
        **overrides,
    )


def run_cli(
    *arguments, expect=0, stdin=None, backend="tensorflow", timeout=900
):
    """Runs `keras-attention-zoo ARGUMENTS` in a subprocess.

    Args:
        *arguments: The command line after the program's name.
        expect: The exit status to assert (with the output in the
            message), or `None` to leave it to the caller.
        stdin: Text given on stdin.
        backend: The `KERAS_BACKEND` of the process.
        timeout: Seconds before the test fails instead of hanging.

    Returns:
        The `subprocess.CompletedProcess`, with text `stdout`/`stderr`.
    """
    result = subprocess.run(
        [sys.executable, "-m", "zoo.cli", *map(str, arguments)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        env=subprocess_env(backend),
        timeout=timeout,
    )
    if expect is not None:
        assert result.returncode == expect, (
            result.stdout[-3000:] + result.stderr[-3000:]
        )
    return result


CLI_ERROR = "keras-attention-zoo: error: "


def cli_main(capsys, *arguments):
    """`keras-attention-zoo ARGUMENTS` in this process, as `run_cli` runs it.

    Faster than a subprocess (TensorFlow is imported already) for the
    commands whose output is checked, not the console script itself.

    Returns:
        `(status, stdout, error)`: the exit status, what was printed, and
        the one error line without its prefix ("" when it succeeded).
    """
    from zoo import cli

    try:
        status = cli.main([str(argument) for argument in arguments])
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    errors = captured.err.strip().splitlines()
    if status:
        assert len(errors) == 1 and errors[0].startswith(CLI_ERROR), errors
    return status, captured.out, errors[0][len(CLI_ERROR) :] if status else ""


def run_python(script, backend="tensorflow", timeout=900):
    """Runs a Python script (dedented) in a subprocess with a backend."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=subprocess_env(backend),
        timeout=timeout,
    )


def run_on_backend(script, backend):
    """Runs `script` under another Keras backend; returns its JSON result.

    Keras picks its backend once per process, so a TensorFlow test run
    reaches JAX or PyTorch through a subprocess. The script prints its
    result as JSON on its last line of stdout.
    """
    pytest.importorskip(backend)
    result = run_python(script, backend=backend)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# Ends a subprocess of `run_killed` the way a power cut or the OOM killer
# would: no `finally`, no `atexit`.
DIE = """
import os
import signal
import sys


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def run_killed(script, timeout=900):
    """Runs `DIE` + `script` in a subprocess; asserts that it was killed."""
    result = run_python(DIE + textwrap.dedent(script), timeout=timeout)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    return result


# A complete zoo task: `zoo/<name>/task.py` in the zoo, a temporary
# package here.
REVERSAL_TASK = '''
    """A toy zoo task: reverse a sequence of digits with attention."""

    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.commands import Argument
    from zoo.commands import Command
    from zoo.options import Option
    from zoo.trainer import Task
    from zoo.trainer import TrainingData


    @keras.saving.register_keras_serializable(package="zoo_test_reversal")
    class Reverser(keras.Model):
        def __init__(self, length=5, units=16, **kwargs):
            super().__init__(**kwargs)
            self.length, self.units = length, units
            self.digit_embedding = keras.layers.Embedding(10, units)
            self.key_embedding = keras.layers.Embedding(length, units)
            self.query_embedding = keras.layers.Embedding(length, units)
            self.attention = keras.layers.Attention()
            self.output_layer = keras.layers.Dense(10, dtype="float32")

        def call(self, inputs, return_attention=False):
            digits, positions = inputs
            context, scores = self.attention(
                [
                    self.query_embedding(positions),
                    self.digit_embedding(digits),
                    self.key_embedding(positions),
                ],
                return_attention_scores=True,
            )
            logits = self.output_layer(context)
            return (logits, scores) if return_attention else logits

        def get_config(self):
            return {
                **super().get_config(),
                "length": self.length,
                "units": self.units,
            }


    def examples(count, length, seed):
        digits = np.random.default_rng(seed).integers(1, 10, (count, length))
        positions = np.broadcast_to(np.arange(length), digits.shape)
        return (digits, positions), digits[:, ::-1]


    def predict(model, digits):
        positions = np.broadcast_to(np.arange(model.length), digits.shape)
        return np.argmax(model.predict((digits, positions), verbose=0), -1)


    def evaluate(model, config):
        inputs, targets = examples(config.num_examples, model.length, 3)
        outputs = predict(model, inputs[0])
        exact = float(np.mean(np.all(outputs == targets, -1)))
        print(f"test: exact match {exact:.1%}")
        return {"exact_match": exact}


    def reverse(model, config):
        digits = np.array([[int(digit) for digit in config.digits]])
        reversed_digits = "".join(map(str, predict(model, digits)[0]))
        print(reversed_digits)
        return reversed_digits


    def export(model, config):
        predict(model, np.ones((1, model.length), "int32"))  # Builds it.
        model.export(config.output_dir, verbose=False)
        print(f"SavedModel written to {config.output_dir}")
        return config.output_dir


    class ReversalTask(Task):
        description = "Reverses digit sequences. A toy task of the tests."
        options = (
            Option("length", int, 5, "Digits per sequence.", positive=True),
            Option(
                "num_examples", int, 256, "Training sequences.", positive=True
            ),
            Option("units", int, 16, "Embedding size.", positive=True),
            # Trainer options with defaults of this task.
            Option("epochs", int, 2, "Maximum epochs.", positive=True),
            Option("batch_size", int, 32, "Batch size.", positive=True),
            Option("learning_rate", float, 0.02, "Adam's rate.", positive=True),
        )
        model_class = Reverser
        commands = (
            Command(
                "evaluate",
                help="score a saved model",
                run=evaluate,
                options=(
                    Option(
                        "num_examples", int, 128, "Sequences.", positive=True
                    ),
                ),
                description="Prints the exact match of reversed sequences.",
            ),
            Command(
                "reverse",
                help="reverse digits",
                run=reverse,
                arguments=(Argument("digits", "the digits", nargs="+"),),
                description="Prints the reversed digits.",
            ),
            Command(
                "export",
                help="write a SavedModel",
                run=export,
                arguments=(Argument("output_dir", "the SavedModel folder"),),
                description="Writes a SavedModel of the reverser.",
            ),
        )

        def dataset(self, count, seed, shuffle):
            data = tf.data.Dataset.from_tensor_slices(
                examples(count, self.config.length, seed)
            )
            if shuffle:
                data = data.shuffle(count, seed=seed)
            return data.batch(self.config.batch_size)

        def load_data(self):
            seed, count = self.config.seed, self.config.num_examples
            return TrainingData(
                train=self.dataset(count, seed, shuffle=True),
                valid=self.dataset(64, seed + 1, shuffle=False),
                num_examples=count,
            )

        def build_model(self):
            return Reverser(self.config.length, self.config.units)

        def loss(self):
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def metrics(self):
            return ["accuracy"]

        def attention_summary(self, model):
            count = self.config.num_summary_samples
            (digits, _), targets = examples(
                count, self.config.length, self.config.seed + 2
            )
            return {
                "decode_fn": lambda samples: self.decode(model, samples),
                "samples": digits.tolist(),
                "references": [" ".join(map(str, row)) for row in targets],
            }

        def decode(self, model, samples):
            digits = np.array(samples)
            positions = np.indices(digits.shape)[1]
            logits, scores = model((digits, positions), return_attention=True)
            outputs = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
            scores = np.asarray(keras.ops.convert_to_numpy(scores), "float32")
            return [
                {
                    "source_tokens": [str(digit) for digit in source],
                    "output_tokens": [str(digit) for digit in output],
                    "attention": weights,
                    "alignment": np.eye(len(source))[::-1],
                }
                for source, output, weights in zip(digits, outputs, scores)
            ]

        def evaluate(self, model):
            inputs, targets = examples(
                128, self.config.length, self.config.seed + 3
            )
            outputs = np.argmax(model.predict(inputs, verbose=0), axis=-1)
            return {
                "token_accuracy": float(np.mean(outputs == targets)),
                "exact_match": float(np.mean(np.all(outputs == targets, -1))),
                "length": self.config.length,
                "dtype_policy": model.dtype_policy.name,
            }

        @classmethod
        def print_results(cls, results):
            print(f"test: exact match {results['exact_match']:.1%}")
            super().print_results(results)
'''


@pytest.fixture(scope="module")
def reversal_package_root(tmp_path_factory):
    """Registers the toy task, as a new package, for a module's tests.

    Yields the folder holding the package, for subprocesses to import.
    """
    from zoo import tasks

    root = tmp_path_factory.mktemp("tasks")
    package = root / "zoo_test_reversal"
    package.mkdir()
    (package / "__init__.py").write_text('"""A toy zoo task."""\n')
    (package / "task.py").write_text(textwrap.dedent(REVERSAL_TASK))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        # A registry of its own, so that no other test sees the toy task.
        patch.setattr(tasks, "_TASKS", dict(tasks._TASKS))
        tasks.register_task("reversal", "zoo_test_reversal.task:ReversalTask")
        yield root


@pytest.fixture(scope="module")
def reversal(reversal_package_root):
    """The name of the registered toy task."""
    return "reversal"


def write_corpus(path, count=240, seed=0):
    """Tab-separated pairs: 2-4 of 48 words, reversed and renamed."""
    first = ["ka", "lo", "mi", "nu", "pe", "ra", "so", "ti"]
    second = ["ba", "de", "fi", "go", "hu", "ja"]
    source_words = [a + b for a in first for b in second]
    target_words = [b + a + "n" for a in first for b in second]
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(count):
        indices = rng.integers(0, len(source_words), rng.integers(2, 5))
        source = " ".join(source_words[i] for i in indices)
        target = " ".join(target_words[i] for i in indices[::-1])
        lines.append(f"{source}\t{target}\n")
    path.write_text("".join(lines))
    return path
