"""The task-agnostic trainer (`zoo.trainer`), options and task registry.

A toy task (reversing digit sequences) is added the way a zoo task is: a
new package holding a `Task` subclass plus one `register_task` call. It
trains through the Python API and the command line, resumes, restores
the dtype policy and shows its declared options in `--help`.
"""

import itertools
import json

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo import cli  # noqa: E402
from zoo import clock  # noqa: E402
from zoo import tasks  # noqa: E402
from zoo import trainer  # noqa: E402
from zoo.commands import run_command  # noqa: E402
from zoo.options import Option  # noqa: E402
from zoo.options import add_arguments  # noqa: E402
from zoo.options import resolve  # noqa: E402
from zoo.trainer import RunConflictError  # noqa: E402
from zoo.trainer import TimeBudget  # noqa: E402
from zoo.trainer import train  # noqa: E402


@pytest.fixture(scope="module")
def api_run(reversal, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("api") / "run"
    results = train(reversal, logdir=logdir, mixed_precision=True, verbose=0)
    # Read here, before the autouse fixture resets the policy.
    return results, logdir, keras.config.dtype_policy().name


def test_toy_task_trains_through_the_python_api(api_run):
    results, logdir, _ = api_run
    saved = json.loads((logdir / "evaluation.json").read_text())
    assert saved == results
    assert 0.0 <= results["token_accuracy"] <= 1.0
    assert results["length"] == 5
    # The task's default epochs (no early stop in 2 epochs of patience 3).
    assert results["epochs"] == 2
    assert results["train_pairs"] == 2 * 256
    assert results["train_pairs_per_second"] > 0
    assert results["logdir"] == str(logdir)
    model = keras.saving.load_model(results["model_path"], compile=False)
    assert model.count_params() > 0
    # TensorBoard logs and the task's attention summaries.
    assert list((logdir / "train").glob("events.out.tfevents.*"))
    assert list((logdir / "attention").glob("events.out.tfevents.*"))


def test_mixed_precision_training_restores_the_dtype_policy(api_run):
    results, _, policy_after = api_run
    assert results["dtype_policy"] in ("mixed_bfloat16", "mixed_float16")
    assert policy_after == "float32"


def test_toy_task_trains_through_the_command_line(reversal, tmp_path, capsys):
    logdir = tmp_path / "run"
    status = cli.main(
        ["train", reversal, "--logdir", str(logdir), "--length", "4"]
        + ["--epochs", "1", "--verbose", "0", "--no-jit"]
    )
    assert status == 0
    results = json.loads((logdir / "evaluation.json").read_text())
    assert results["length"] == 4 and results["epochs"] == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-4:] == [
        f"test: exact match {results['exact_match']:.1%}",
        trainer.training_summary(results),
        f"model saved to {logdir / 'model.keras'}",
        f"look at the attention with: tensorboard --logdir {logdir}",
    ]


class Interrupted(Exception):
    pass


class InterruptAfterFirstEpoch(keras.callbacks.Callback):
    # Runs after RunCheckpoint has written the epoch's checkpoint.
    def on_epoch_end(self, epoch, logs=None):
        self.weights = [w.numpy() for w in self.model.weights]
        raise Interrupted


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_train_begin(self, logs=None):
        # RunCheckpoint, earlier in the list, has restored by now.
        self.weights = [w.numpy() for w in self.model.weights]

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_an_interrupted_run_resumes_and_restores_the_policy(reversal, tmp_path):
    run = {"logdir": tmp_path / "run", "epochs": 3, "verbose": 0}
    interrupt = InterruptAfterFirstEpoch()
    with pytest.raises(Interrupted):
        train(reversal, mixed_precision=True, callbacks=[interrupt], **run)
    # Restored although training ended with an exception.
    assert keras.config.dtype_policy().name == "float32"
    assert not (tmp_path / "run" / "evaluation.json").exists()

    recorder = Recorder()
    results = train(reversal, mixed_precision=True, callbacks=[recorder], **run)
    assert recorder.epochs == [1, 2]
    # The record counts the epoch before the interruption too.
    assert results["epochs"] == 3 and results["epochs_resumed"] == 1
    assert results["train_pairs"] == 3 * 256
    for restored, at_interrupt in zip(
        recorder.weights, interrupt.weights, strict=True
    ):
        np.testing.assert_array_equal(restored, at_interrupt)


class InterruptAtFirstBatch(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        raise Interrupted


def test_a_run_resumes_only_with_its_own_settings(reversal, tmp_path):
    logdir = tmp_path / "run"
    run = {"logdir": logdir, "epochs": 2, "verbose": 0, "jit_compile": False}
    with pytest.raises(Interrupted):
        train(reversal, callbacks=[InterruptAfterFirstEpoch()], **run)
    record = json.loads((logdir / "run.json").read_text())
    # The task's own options, by default (`Task.definition`).
    assert record["stage"] == "training"
    assert record["definition"] == {
        "task": "reversal",
        "seed": 0,
        "length": 5,
        "num_examples": 256,
        "units": 16,
    }
    with pytest.raises(
        RunConflictError,
        match=f"^{logdir} holds another run: its length is 5, this run's "
        "is 4; use another --logdir, or --overwrite to replace that run$",
    ):
        train(reversal, length=4, **run)
    # The refusal changed nothing: the run resumes with its settings.
    results = train(reversal, **run)
    assert results["epochs"] == 2 and results["epochs_resumed"] == 1


def test_a_run_stopped_before_its_first_checkpoint_starts_afresh(
    reversal, tmp_path
):
    logdir = tmp_path / "run"
    run = {"logdir": logdir, "epochs": 1, "verbose": 0, "jit_compile": False}
    with pytest.raises(Interrupted):
        train(reversal, callbacks=[InterruptAtFirstBatch()], **run)
    assert list((logdir / "train").iterdir())
    # Nothing was trained: other settings are a new run, not a conflict,
    # and the aborted attempt's TensorBoard logs are not mixed in.
    results = train(reversal, length=4, **run)
    assert results["length"] == 4 and results["epochs_resumed"] == 0
    assert len(list((logdir / "train").iterdir())) == 1


def test_a_new_task_gets_all_of_its_commands(api_run, tmp_path, capsys):
    model_path = api_run[0]["model_path"]
    capsys.readouterr()
    assert cli.main(["evaluate", model_path, "--num-examples", "64"]) == 0
    evaluated = capsys.readouterr().out.splitlines()
    assert evaluated[-1].startswith("test: exact match ")
    # The Python API runs the same declaration, with its default.
    results = run_command("evaluate", model_path, num_examples=64)
    assert f"test: exact match {results['exact_match']:.1%}" == evaluated[-1]
    capsys.readouterr()
    assert cli.main(["reverse", model_path, "1", "2", "3", "4", "5"]) == 0
    reversed_digits = capsys.readouterr().out.strip()
    assert len(reversed_digits) == 5 and reversed_digits.isdigit()
    saved = tmp_path / "saved"
    assert cli.main(["export", model_path, str(saved)]) == 0
    assert (saved / "saved_model.pb").is_file()
    # Another task's option of the same command is refused, named.
    assert cli.main(["evaluate", model_path, "--features", "x.npz"]) == 2
    assert capsys.readouterr().err.strip() == (
        "keras-attention-zoo: error: --features: an option of `evaluate` for "
        f"captioning models, received with a reversal model ({model_path})"
    )
    # A command of another task names what it expected.
    assert cli.main(["translate", model_path, "9 may 2018"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"keras-attention-zoo: error: MODEL {model_path}: `translate` needs "
        "a translation model (from `keras-attention-zoo train translation`), "
        "received a reversal model (Reverser)"
    )
    with pytest.raises(SystemExit):
        cli.main(["reverse", "--help"])
    assert "Prints the reversed digits." in capsys.readouterr().out


def test_help_shows_the_declared_options(reversal, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", reversal, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Reverses digit sequences. A toy task of the tests." in text
    assert "reversal options: --length N Digits per sequence. (default: 5)" in (
        text
    )
    for flag in ("--num-examples N", "--units N", "--mixed-precision"):
        assert flag in text
    # Trainer options, with the task's defaults where it restates them.
    assert "--epochs N Maximum epochs. (default: 2)" in text
    assert "--learning-rate X Adam's rate. (default: 0.02)" in text
    assert "--max-minutes X" in text and "--no-jit" in text
    assert "--callbacks" not in text  # Python only
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "reversal reverses digit sequences" in text
    assert "translation trains a translation model" in text


def test_invalid_options_are_named(reversal, capsys):
    with pytest.raises(
        ValueError, match=r"`lenght` of task 'reversal' \(did you mean `length`"
    ):
        train(reversal, lenght=3)
    with pytest.raises(ValueError, match=r"`sed`, `x` of .*`seed` for `sed`\?"):
        train(reversal, sed=1, x=2)
    with pytest.raises(
        ValueError, match="`length` of task 'reversal': must be >= 1"
    ):
        train(reversal, length=0)
    with pytest.raises(ValueError, match="`mixed_precision`.*True or False"):
        train(reversal, mixed_precision="yes")
    with pytest.raises(ValueError, match="Unknown task 'nope'.*reversal"):
        train("nope")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", reversal, "--length", "0"])
    assert exit_info.value.code == 2
    assert "--length: must be >= 1, got 0" in capsys.readouterr().err


def test_a_name_is_registered_once(reversal):
    # The same task again is fine; another one under its name is not.
    tasks.register_task(reversal, "zoo_test_reversal.task:ReversalTask")
    with pytest.raises(ValueError, match="already registered"):
        tasks.register_task(reversal, "somewhere.else:Task")
    with pytest.raises(ValueError, match="Received: name=''"):
        tasks.register_task("", "somewhere.else:Task")


def test_options_check_parse_and_describe():
    options = [
        Option("rate", float, 0.5, "A rate.", minimum=0.0, maximum=1.0),
        Option("size", int, None, "A size.", positive=True),
        Option("mode", str, "a", "A mode.", choices=("a", "b")),
        Option("extra", dict, None, "Extra JSON.", flag="--extra-json"),
        Option("quick", bool, False, "Quick."),
    ]
    assert vars(resolve(options, {"size": 3}, "test")) == {
        "rate": 0.5,
        "size": 3,
        "mode": "a",
        "extra": None,
        "quick": False,
    }
    with pytest.raises(ValueError, match=r"must be <= 1.0, got 2"):
        resolve(options, {"rate": 2}, "test")
    with pytest.raises(ValueError, match="must be one of 'a', 'b'"):
        resolve(options, {"mode": "c"}, "test")
    with pytest.raises(ValueError, match="must be an integer"):
        resolve(options, {"size": 2.5}, "test")
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser, options)
    args = parser.parse_args(
        ["--size", "4", "--mode", "b", "--extra-json", '{"a": 1}', "--quick"]
    )
    given = {option.name: getattr(args, option.name) for option in options}
    assert vars(resolve(options, given, "test")) == {
        "rate": 0.5,
        "size": 4,
        "mode": "b",
        "extra": {"a": 1},
        "quick": True,
    }


def test_translation_api_cli_and_docs_share_one_declaration(capsys):
    from zoo.translation.options import OPTIONS
    from zoo.translation.training import train_translation

    options = trainer.options_of("translation")
    assert {option.name for option in OPTIONS} <= {o.name for o in options}
    with pytest.raises(SystemExit):
        cli.main(["train", "translation", "--help"])
    text = capsys.readouterr().out
    for option in options:
        # A flag of the command (but the Python-only options) ...
        assert (f"  {option.cli_flag}" in text) == option.cli
        # ... and an entry of train_translation's docstring.
        if option.name not in ("arch", "data"):
            assert f"        {option.name}: " in train_translation.__doc__
    assert "--model-args JSON" in text and "--no-jit" in text
    with pytest.raises(ValueError, match="`arch`.*'bahdanau', 'luong'"):
        train_translation("rnn")


class LearningRateLog(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def test_time_budget_anneals_the_learning_rate_by_the_clock(monkeypatch):
    # The clock is read at the start of training, then at the start and
    # the end of every batch: a 60 s budget, annealed over its last 30 s.
    readings = iter([0.0, 0.0, 0.0, 40.0, 40.0, 55.0, 61.0, 61.0])
    monkeypatch.setattr(
        clock, "time", type("Clock", (), {"perf_counter": readings.__next__})
    )
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    log = LearningRateLog()

    model.fit(
        np.ones((10, 2)),
        np.ones((10, 1)),
        batch_size=1,
        epochs=1,
        callbacks=[TimeBudget(1.0, anneal_fraction=0.5), log],
        verbose=0,
    )

    # Full rate until 30 s are left, then rate * seconds_left / 30; the
    # batch that ends past the deadline is the last.
    np.testing.assert_allclose(
        log.rates, [0.1, 0.1 * 20 / 30, 0.1 * 5 / 30], rtol=1e-6
    )


def test_time_budget_stops_when_it_runs_out_during_validation(monkeypatch):
    # Both batches end within the 60 s budget; the epoch's end (after
    # validation) is past it.
    readings = itertools.chain([0.0, 10.0, 20.0], itertools.repeat(70.0))
    monkeypatch.setattr(
        clock, "time", type("Clock", (), {"perf_counter": readings.__next__})
    )
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")

    history = model.fit(
        np.ones((4, 2)),
        np.ones((4, 1)),
        batch_size=2,
        epochs=3,
        validation_data=(np.ones((2, 2)), np.ones((2, 1))),
        callbacks=[TimeBudget(1.0)],
        verbose=0,
    )

    assert len(history.history["loss"]) == 1


def test_time_budget_refuses_to_anneal_a_schedule():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(
        keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 10)),
        "mse",
    )
    with pytest.raises(ValueError, match="anneal_fraction.*schedule"):
        model.fit(
            np.ones((2, 2)),
            np.ones((2, 1)),
            callbacks=[TimeBudget(1.0, anneal_fraction=0.5)],
            verbose=0,
        )
    with pytest.raises(ValueError, match="Received: anneal_fraction=1.5"):
        TimeBudget(1.0, anneal_fraction=1.5)


def test_time_budget_anneals_through_a_loss_scale_optimizer():
    # mixed_float16 wraps the optimizer; the rate is set through it.
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    budget = TimeBudget(1e-9, anneal_fraction=1.0)
    model.fit(
        np.ones((2, 2)),
        np.ones((2, 1)),
        callbacks=[budget],
        verbose=0,
    )
    assert float(optimizer.inner_optimizer.learning_rate) == 0.0
