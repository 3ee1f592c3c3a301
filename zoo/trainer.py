"""The trainer shared by every zoo task.

`train(task, **options)` owns the run: its record (`RunRecord`: what
defines the run and how far it got, so that a rerun resumes it or is
refused), seeding, the `model.fit` loop with Keras progress bars, the
epoch checkpoints (`RunCheckpoint`), the time budget (`TimeBudget`),
early stopping, mixed precision (restoring the dtype policy afterwards),
`jit_compile`, the `tf.distribute` strategy, TensorBoard and
`AttentionSummary`, saving the model and writing the evaluation record,
both atomically. A `Task` supplies the rest: its options, data and
preprocessing, model, loss and metrics, what `AttentionSummary` decodes,
the evaluation and its report, and what defines its runs (`definition`,
`define`).

A run directory (`logdir`) goes through three stages, kept in
`LOGDIR/run.json`: "training" (a checkpoint at the end of every epoch in
`LOGDIR/checkpoint`), "evaluating" (`model.keras` saved) and "finished"
(`evaluation.json` written). A rerun with the same settings resumes at
the stage where a run stopped; a rerun with other settings, or in a
finished run, is refused unless `overwrite=True`.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import time
import warnings

import keras

from keras_attention.callbacks import AttentionSummary
from zoo.options import Option
from zoo.options import document
from zoo.options import merge
from zoo.options import resolve
from zoo.tasks import get_task

# What a run writes into its logdir.
RUN_FILE = "run.json"
CHECKPOINT_DIR = "checkpoint"
MODEL_FILE = "model.keras"
EVALUATION_FILE = "evaluation.json"
# Also deleted by `overwrite`: TensorBoard's and `AttentionSummary`'s log
# folders, and the checkpoint folder of versions before the run record.
_LOG_DIRS = ("train", "validation", "attention")
_LEGACY_CHECKPOINT_DIR = "backup"

TRAINER_OPTIONS = (
    Option(
        "logdir",
        str,
        None,
        "Where the run record, checkpoints, TensorBoard logs, the model "
        "and evaluation.json go. Rerunning with the same logdir and "
        "settings resumes an interrupted run from its last epoch (or at "
        "its evaluation); a logdir holding a finished run or another run "
        "is refused unless --overwrite. Default: runs/TASK.",
    ),
    Option(
        "overwrite",
        bool,
        False,
        "Start afresh in a logdir that holds a finished or another run: "
        "its record, checkpoint, model, evaluation.json and TensorBoard "
        "logs are deleted first (learned vocabularies are kept).",
    ),
    Option(
        "epochs",
        int,
        10,
        "Maximum number of epochs; early stopping may end sooner.",
        positive=True,
    ),
    Option("batch_size", int, 64, "Examples per batch.", positive=True),
    Option(
        "learning_rate",
        float,
        None,
        "Learning rate of the optimizer; default: the task's.",
        positive=True,
    ),
    Option(
        "max_minutes",
        float,
        None,
        "Training time budget in minutes: training stops after the first "
        "batch that ends past it (the epoch is cut short, validated and "
        "checkpointed), and the learning rate falls linearly to zero over "
        "the last anneal_fraction of it.",
        positive=True,
    ),
    Option(
        "anneal_fraction",
        float,
        0.4,
        "With max_minutes, the last fraction of the budget over which the "
        "learning rate falls to zero (TimeBudget); needs a constant "
        "learning rate, 0 keeps it.",
        minimum=0.0,
        maximum=1.0,
    ),
    Option(
        "patience",
        int,
        3,
        "Early-stopping patience in epochs, on the validation loss.",
        positive=True,
    ),
    Option(
        "mixed_precision",
        bool,
        False,
        "Train under mixed_float16 (mixed_bfloat16 on CPU, which has no "
        "fast float16); the dtype policy is restored afterwards.",
    ),
    Option(
        "jit_compile",
        None,
        "auto",
        'Whether model.compile compiles with XLA: "auto" (where Keras '
        "can), True or False; --no-jit sets False.",
        choices=("auto", True, False),
        flag="--no-jit",
        const=False,
    ),
    Option(
        "distribute",
        str,
        None,
        'None, or "mirrored" for tf.distribute.MirroredStrategy over all '
        "visible devices.",
        choices=("mirrored",),
    ),
    Option(
        "num_summary_samples",
        int,
        3,
        "Validation examples whose attention AttentionSummary draws in "
        "TensorBoard every epoch.",
        minimum=0,
    ),
    Option("seed", int, 0, "Seed of the data split, shuffling and weights."),
    Option(
        "verbose",
        int,
        1,
        "Keras progress bar verbosity: 0 silent, 1 a bar, 2 a line per epoch.",
        minimum=0,
        maximum=2,
    ),
    Option(
        "callbacks",
        list,
        None,
        "Extra Keras callbacks for model.fit (Python only).",
        cli=False,
    ),
)


@dataclasses.dataclass
class TrainingData:
    """The data a task trains on, as `Task.load_data` returns it.

    Args:
        train: The training batches: a `tf.data.Dataset` (or anything
            `model.fit` takes) of `(inputs, targets)` that shuffles itself
            every epoch.
        valid: The validation batches, likewise; early stopping watches
            their loss and the model is built on their first batch.
        num_examples: Training examples per epoch, for the training
            throughput of the record.
    """

    train: object
    valid: object
    num_examples: int


class Task:
    """What a zoo task supplies to the trainer (`zoo.trainer.train`).

    A task is a folder under `zoo/` with a `Task` subclass, registered
    once with `zoo.tasks.register_task`. The trainer creates it with the
    resolved options (the constructor is the place to refuse invalid
    settings, before any data work), records its `definition`, then calls
    `load_data`, `build_model`, `optimizer`, `loss`, `metrics`,
    `callbacks` and `attention_summary`, trains, saves and calls `evaluate`;
    `keras-attention-zoo train` prints the record with `print_results`.

    What defines a run (so that a rerun in the same logdir resumes it
    only with the same settings) is the task's name, the seed, the
    task's `definition()` and what it passes to `define` while loading
    its data: fingerprints of the data and of anything learned from it.

    Class attributes:
        description: What `keras-attention-zoo train TASK --help` says.
        options: The task's `zoo.options.Option`s. One named like a
            trainer option (`TRAINER_OPTIONS`) replaces it, e.g. to give
            `epochs` a default that depends on the data.

    Args:
        config: The resolved options of the task and the trainer, a
            `types.SimpleNamespace` (`logdir` is a `pathlib.Path`). A task
            may fill in the options it left `None` (`epochs`) here.

    Example:

    ```python
    class CopyTask(Task):
        description = "Copies digit strings."
        options = (Option("length", int, 8, "Digits.", positive=True),)

        def load_data(self):
            ...
            return TrainingData(train, valid, num_examples=1000)

        def build_model(self):
            return keras.Sequential([...])

        def loss(self):
            return "sparse_categorical_crossentropy"

        def evaluate(self, model):
            return {"accuracy": ...}
    ```
    """

    description = ""
    options = ()

    def __init__(self, config):
        self.config = config
        # Set by `train`; `define` records into it.
        self.run_record = None

    def definition(self):
        """The settings that define a run, known before any data work.

        The trainer records them with the task's name and the seed in
        `LOGDIR/run.json`, and refuses to resume a run whose settings
        differ. By default, the values of the task's own options (not
        the trainer options it restates); a task returns what changes
        the model or the data it is trained on.

        Returns:
            A JSON-able dict from setting name to value.
        """
        trainer_names = {option.name for option in TRAINER_OPTIONS}
        return {
            option.name: getattr(self.config, option.name)
            for option in self.options
            if option.name not in trainer_names
        }

    def define(self, **settings):
        """Records settings that define the run, as soon as they are known.

        For what only data work tells, such as fingerprints of the data
        and of learned vocabularies: called from `load_data` as soon as
        each is known, so that a rerun with other data is refused before
        the next, slower step.

        Args:
            **settings: JSON-able values by name.

        Raises:
            RunConflictError: If the logdir holds a trained run whose
                recorded value of one of them differs.
        """
        if self.run_record is not None:
            self.run_record.define(**settings)

    def load_data(self):
        """Returns the `TrainingData`; keeps what evaluation needs."""
        raise NotImplementedError

    def build_model(self):
        """Returns the Keras model, called in the distribution scope."""
        raise NotImplementedError

    def optimizer(self):
        """The optimizer: Adam at `learning_rate` (default 1e-3)."""
        return keras.optimizers.Adam(self.config.learning_rate or 1e-3)

    def loss(self):
        """The loss of `model.compile`."""
        raise NotImplementedError

    def metrics(self):
        """The metrics of `model.compile`."""
        return []

    def callbacks(self):
        """The task's own Keras callbacks for `model.fit` (default none).

        They run after the checkpoint callback (they see restored weights
        and the epoch a resumed run continues at) and before the user's
        `callbacks` option.
        """
        return []

    def attention_summary(self, model):
        """`AttentionSummary` arguments but `logdir`, or `None` for none.

        Returns:
            `None`, or a dict with `decode_fn` and `samples` and any other
            `keras_attention.callbacks.AttentionSummary` arguments.
        """
        return None

    def evaluate(self, model):
        """Returns the test metrics of the trained model, a JSON-able dict."""
        raise NotImplementedError

    @classmethod
    def print_results(cls, results):
        """Prints the record `train` returned, for the command line."""
        print(training_summary(results))


def options_of(task):
    """The options of a task: the trainer's, then the task's own.

    Args:
        task: A registered task name or a `Task` subclass.

    Returns:
        A tuple of `zoo.options.Option`; a task option named like a
        trainer option replaces it in place.
    """
    task_class = get_task(task) if isinstance(task, str) else task
    return merge(TRAINER_OPTIONS, task_class.options)


def grouped_options(task_options):
    """A task's own options and the trainer's, for `--help` and docs.

    Args:
        task_options: The options a task declares (`Task.options`).

    Returns:
        Two tuples of `zoo.options.Option`: the task's own options, and
        the trainer options with the task's restatements in their place.
    """
    trainer_names = {option.name for option in TRAINER_OPTIONS}
    return (
        tuple(o for o in task_options if o.name not in trainer_names),
        merge(
            TRAINER_OPTIONS,
            [o for o in task_options if o.name in trainer_names],
        ),
    )


@document(TRAINER_OPTIONS, heading="Trainer options")
def train(task, **options):
    """Trains, saves and evaluates the model of a registered zoo task.

    The Python form of `keras-attention-zoo train TASK`: the keywords are
    its flags (`--batch-size 32` is `batch_size=32`), checked against the
    options the task and the trainer declare (listed below for the
    trainer; a task's by `keras-attention-zoo train TASK --help`).

    The run is kept in `logdir` (see `RunRecord`): a rerun with the same
    settings resumes an interrupted run where it stopped, from its last
    epoch or at its evaluation, and reaches the same model as a run that
    was not interrupted; a logdir holding a finished run, or a run with
    other settings, is refused unless `overwrite=True`. The model and
    `evaluation.json` are written under temporary names and renamed into
    place, so a kill never leaves a truncated one.

    Args:
        task: The registered task name, e.g. `"translation"`.
        **options: Options of the task and the trainer; `None` or left
            out means the default.

    Returns:
        The task's test metrics (`Task.evaluate`) with the training
        record: `epochs` trained (in all, with those before a resume),
        `epochs_resumed` (those found in the checkpoint of an interrupted
        run), `train_pairs_per_second`, `train_pairs` and `train_seconds`
        (time in training steps only), `fit_seconds`, `model_path` and
        `logdir`. The same dict is written to `logdir/evaluation.json`.

    Raises:
        ValueError: For an unknown task, an unknown option or an invalid
            value, naming it; `RunConflictError` (a `ValueError`) for a
            logdir that holds a finished run or another run.

    Example:

    ```python
    from zoo.trainer import train

    results = train("translation", logdir="runs/dates", epochs=2)
    print(results["greedy"]["exact_match"])
    ```
    """
    task_class = get_task(task)
    config = resolve(options_of(task_class), options, f"task {task!r}")
    config.logdir = pathlib.Path(config.logdir or pathlib.Path("runs", task))
    keras.utils.set_random_seed(config.seed)
    # The task checks its settings before the logdir is touched.
    runner = task_class(config)
    record = RunRecord(config.logdir, overwrite=config.overwrite)
    runner.run_record = record
    record.define(task=task, seed=config.seed, **runner.definition())
    data = runner.load_data()
    model_path = config.logdir / MODEL_FILE
    with mixed_precision_policy(config.mixed_precision):
        model = _build_and_compile(runner, data, config)
        if record.stage == "evaluating":
            # Killed while evaluating: the trained model is saved.
            _say(
                config, f"Resuming the run in {config.logdir} at its evaluation"
            )
            _build_optimizer(model)
            model.load_weights(model_path)
        else:
            _train_and_save(runner, model, data, record)
        results = runner.evaluate(model)
    results.update(
        {
            **record.training,
            "model_path": str(model_path),
            "logdir": str(config.logdir),
        }
    )
    write_atomically(
        config.logdir / EVALUATION_FILE,
        lambda path: pathlib.Path(path).write_text(
            json.dumps(results, indent=2)
        ),
    )
    record.finish()
    return results


def _train_and_save(task, model, data, record):
    """Fits from the checkpoint (if any), saves the model, records it."""
    config = task.config
    clock = TrainingClock(data.num_examples, config.batch_size)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=config.patience,
        restore_best_weights=True,
    )
    checkpoint = RunCheckpoint(
        config.logdir / CHECKPOINT_DIR, early_stopping, clock
    )
    resumed = checkpoint.epochs
    if resumed:
        _say(
            config,
            f"Resuming the run in {config.logdir} after epoch {resumed}",
        )
    # A run that stopped early (or ran out of time) before it was killed
    # has no epoch left; `fit` then only restores its best weights.
    initial_epoch = config.epochs if checkpoint.stopped else resumed
    initial_epoch = min(initial_epoch, config.epochs)
    _replay_shuffles(data.train, resumed)
    callbacks = _callbacks(task, model, clock, early_stopping, checkpoint)
    _fit(model, data, callbacks, config, initial_epoch)
    write_atomically(config.logdir / MODEL_FILE, model.save)
    record.start_evaluating(
        {
            "train_pairs_per_second": (
                clock.pairs / clock.seconds if clock.seconds else 0.0
            ),
            "train_pairs": clock.pairs,
            "train_seconds": clock.seconds,
            "fit_seconds": checkpoint.fit_seconds,
            "epochs": checkpoint.epochs,
            "epochs_resumed": resumed,
        }
    )


def _say(config, message):
    if config.verbose:
        print(message)


def _replay_shuffles(dataset, epochs):
    """Draws the shuffle seeds that `epochs` epochs of `fit` would draw.

    A `tf.data` shuffle draws new seeds for every iterator made of the
    dataset. An uninterrupted run shuffles epoch `k` with the seeds of
    the iterators `fit` made before it; a run resumed at epoch `k` makes
    as many first (an iterator is cheap until it is read), so that it
    trains on the batches of the run it continues. Keras's epoch iterator
    (3.x) makes two iterators an epoch of a dataset whose length it knows
    (it makes the next one at the end of an epoch, and another at the
    start of the next), and one of a dataset of unknown length (bucketed
    batches), which it reads until it runs out.
    `tests/zoo/test_run_safety.py` checks both against uninterrupted runs.
    """
    if not epochs or not hasattr(dataset, "cardinality"):
        return
    known_length = int(dataset.cardinality()) >= 0
    for _ in range(epochs * (2 if known_length else 1)):
        iter(dataset)


def training_summary(results):
    """The line of the command line report on training speed.

    Example:

    >>> training_summary(
    ...     {"train_pairs_per_second": 4641.2, "epochs": 6, "fit_seconds": 35.4}
    ... )
    'training: 4641 pairs/s, 6 epochs in 35 s'
    """
    return (
        f"training: {results['train_pairs_per_second']:.0f} pairs/s, "
        f"{results['epochs']} epochs in {results['fit_seconds']:.0f} s"
    )


@contextlib.contextmanager
def mixed_precision_policy(enabled=True):
    """Sets a mixed precision dtype policy, and restores the previous one.

    `mixed_float16` on an accelerator, `mixed_bfloat16` on CPU, which has
    no fast float16. The policy is global in Keras: restoring it keeps a
    model built after training (another run, a test) in its own dtype.

    Args:
        enabled: `False` leaves the policy alone.

    Example:

    >>> with mixed_precision_policy():
    ...     keras.config.dtype_policy().name.startswith("mixed_")
    True
    >>> keras.config.dtype_policy().name
    'float32'
    """
    previous = keras.config.dtype_policy()
    if enabled:
        keras.config.set_dtype_policy(
            "mixed_bfloat16" if _cpu_only() else "mixed_float16"
        )
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _cpu_only():
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU") and not os.environ.get(
        "CUDA_VISIBLE_DEVICES"
    )


def _distribution_scope(distribute):
    if distribute is None:
        return contextlib.nullcontext()
    if distribute == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    raise ValueError(
        "`distribute` must be None or 'mirrored'. "
        f"Received: distribute={distribute}"
    )


def _build_and_compile(task, data, config):
    """The task's model, compiled and built, in the distribution scope."""
    with _distribution_scope(config.distribute):
        model = task.build_model()
        model.compile(
            optimizer=task.optimizer(),
            loss=task.loss(),
            metrics=task.metrics(),
            jit_compile=config.jit_compile,
        )
        # Built on one example of the first validation batch, so that the
        # weights exist before `RunCheckpoint` restores a checkpoint
        # and the summaries decode.
        inputs, _ = next(iter(data.valid))
        model(keras.tree.map_structure(lambda tensor: tensor[:1], inputs))
    return model


def _callbacks(task, model, clock, early_stopping, checkpoint):
    config = task.config
    time_budget = []
    if config.max_minutes is not None:
        time_budget = [TimeBudget(config.max_minutes, config.anneal_fraction)]
    summaries = []
    # No samples, no summaries (`AttentionSummary` needs one to decode).
    summary = (
        task.attention_summary(model) if config.num_summary_samples else None
    )
    if summary is not None:
        summaries = [AttentionSummary(logdir=str(config.logdir), **summary)]
    # The checkpoint comes after the clock and the budget (which read the
    # rate before a restore) and early stopping (whose state it saves at
    # the end of an epoch and restores after it resets at the start), and
    # before callbacks that see restored weights.
    return [
        clock,
        *time_budget,
        early_stopping,
        checkpoint,
        keras.callbacks.TensorBoard(str(config.logdir)),
        *summaries,
        *task.callbacks(),
        *(config.callbacks or []),
    ]


def _fit(model, data, callbacks, config, initial_epoch=0):
    with warnings.catch_warnings():
        # Bucketed datasets have no known length: Keras counts the batches
        # of the first epoch and warns that the input "ran out of data".
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        return model.fit(
            data.train,
            validation_data=data.valid,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            # Tasks' datasets reshuffle themselves every epoch.
            shuffle=False,
            verbose=config.verbose,
        )


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the first batch that ends past a time budget.

    Or after the epoch during whose validation the budget ran out. The
    interrupted epoch still ends normally (validation, checkpoints,
    summaries), so a benchmark can give every model the same wall time.
    Optionally the learning rate is annealed towards the deadline: a
    budget, unlike an epoch count, does not say how many steps are left,
    so the decay follows the clock. On Tatoeba, annealing over the last 40%
    of the steps lowered the validation loss of a Luong model from 2.59 to
    2.39 after 1,500 steps.

    Args:
        max_minutes: Training time budget in minutes, counted from the
            start of `fit`.
        anneal_fraction: During this last fraction of the budget the
            optimizer's learning rate falls linearly to zero from the rate
            it had when training began. `0` leaves the rate alone; needs a
            constant learning rate, not a schedule.

    Example:

    >>> budget = TimeBudget(20, anneal_fraction=0.4)
    >>> budget.rate_factor(seconds_left=60 * 20)
    1.0
    >>> budget.rate_factor(seconds_left=60 * 4)
    0.5
    """

    def __init__(self, max_minutes, anneal_fraction=0.0):
        super().__init__()
        if not max_minutes or max_minutes <= 0:
            raise ValueError(
                "`max_minutes` must be a positive number. "
                f"Received: max_minutes={max_minutes!r}"
            )
        if not 0.0 <= anneal_fraction <= 1.0:
            raise ValueError(
                "`anneal_fraction` must be between 0 and 1. "
                f"Received: anneal_fraction={anneal_fraction!r}"
            )
        self.max_minutes = max_minutes
        self.anneal_fraction = anneal_fraction

    def rate_factor(self, seconds_left):
        """The learning rate's multiplier with `seconds_left` in the budget."""
        window = 60.0 * self.max_minutes * self.anneal_fraction
        if window == 0.0:
            return 1.0
        return min(1.0, max(0.0, seconds_left / window))

    def on_train_begin(self, logs=None):
        self._deadline = time.perf_counter() + 60.0 * self.max_minutes
        if self.anneal_fraction:
            optimizer = self.model.optimizer
            # Read before `RunCheckpoint` (a later callback) restores a
            # checkpoint, which may hold an already annealed rate.
            rate = float(optimizer.learning_rate)
            try:
                # Keras refuses to set the rate of a schedule (TypeError);
                # the setter also reaches through a `LossScaleOptimizer`.
                optimizer.learning_rate = rate
            except (TypeError, AttributeError) as error:
                raise ValueError(
                    "`anneal_fraction` needs a constant learning rate; the "
                    "optimizer has a schedule, whose rate cannot be set. "
                    f"Received: optimizer={optimizer.name!r} with a rate of "
                    f"{rate:g} at step 0"
                ) from error
            self._initial_rate = rate

    def on_train_batch_begin(self, batch, logs=None):
        if self.anneal_fraction:
            seconds_left = self._deadline - time.perf_counter()
            self.model.optimizer.learning_rate = (
                self._initial_rate * self.rate_factor(seconds_left)
            )

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() >= self._deadline:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        # A deadline passed while validating: Keras would otherwise start
        # the next epoch and run one batch, then validate again.
        if time.perf_counter() >= self._deadline:
            self.model.stop_training = True


class TrainingClock(keras.callbacks.Callback):
    """Counts the pairs trained on and the seconds spent in training steps.

    Time spent validating and in epoch-end callbacks (summaries,
    checkpoints) is left out, so `pairs / seconds` is the training
    throughput. A complete epoch counts `num_pairs`; an epoch cut short
    counts its batches times `batch_size`.

    Args:
        num_pairs: Training pairs (examples) per epoch.
        batch_size: Pairs per batch.
    """

    def __init__(self, num_pairs, batch_size):
        super().__init__()
        self.num_pairs = num_pairs
        self.batch_size = batch_size
        self.pairs = 0
        self.seconds = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        self._last_batch_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._batches:
            self.seconds += self._last_batch_end - self._epoch_start
            self.pairs += min(self.num_pairs, self._batches * self.batch_size)


class RunConflictError(ValueError):
    """A logdir holds a finished run, or a run with other settings."""


class RunRecord:
    """What defines the run in a logdir and how far it got (`run.json`).

    The record holds the run's definition (the task, the seed, the
    task's `Task.definition()` and what it `define`s while loading data:
    data and vocabulary fingerprints, model arguments, ...) and its
    stage: `"training"` (epoch checkpoints in `checkpoint/`),
    `"evaluating"` (`model.keras` saved, with the training record) or
    `"finished"` (`evaluation.json` written). Opening a logdir:

    - with `overwrite`, deletes what an earlier run wrote there (record,
      checkpoint, model, evaluation, TensorBoard logs) and starts afresh;
    - refuses a finished run, and a model or checkpoint without a record
      (an older version's, whose settings are unknown);
    - resumes a run that trained at least one epoch (or saved its model):
      `define` then refuses a setting that differs from the record;
    - otherwise (nothing trained yet) starts afresh, deleting the logs of
      the attempt.

    Every file is replaced atomically, so a kill leaves the old version
    or the new one, never a mix.

    Args:
        logdir: The run directory; created if missing.
        overwrite: Whether to delete an earlier run in `logdir` first.

    Raises:
        ValueError: If `logdir` is a file, or cannot be created or
            written to, naming it.
        RunConflictError: For a finished run, or a model or checkpoint
            without a record, unless `overwrite`.
    """

    def __init__(self, logdir, overwrite=False):
        self.logdir = pathlib.Path(logdir)
        self.path = self.logdir / RUN_FILE
        _check_logdir(self.logdir)
        saved = None if overwrite else self._read()
        if saved is None and not overwrite:
            self._refuse_unrecorded()
        if saved is not None and saved.get("stage") == "finished":
            raise RunConflictError(
                f"{self.logdir} holds a finished run ({MODEL_FILE}, "
                f"{EVALUATION_FILE}); use another --logdir, or --overwrite "
                "to replace it"
            )
        resumable = self._resumable(saved)
        if resumable is None and (overwrite or saved is not None):
            # Nothing trained to resume (or to keep): the logs and files
            # of the earlier attempt would only mix with this run's.
            _clear_run(self.logdir)
        saved = resumable or {}
        self.resuming = bool(saved)
        self.stage = saved.get("stage", "training")
        self.definition = saved.get("definition", {})
        self.training = saved.get("training", {})

    def define(self, **settings):
        """Records settings of the run; refuses ones that differ.

        Raises:
            RunConflictError: When resuming, for a setting whose recorded
                value differs, naming it and both values.
        """
        settings = json.loads(json.dumps(settings, default=str))
        if self.resuming:
            for name, value in settings.items():
                if name in self.definition and self.definition[name] != value:
                    self._refuse_difference(name, self.definition[name], value)
        self.definition.update(settings)
        self._write()

    def start_evaluating(self, training):
        """Records that the model is saved, with its training record."""
        self.stage, self.training = "evaluating", dict(training)
        self._write()

    def finish(self):
        """Records that the evaluation is written; drops the checkpoint."""
        self.stage = "finished"
        self._write()
        shutil.rmtree(self.logdir / CHECKPOINT_DIR, ignore_errors=True)

    def _read(self):
        if not self.path.exists():
            return None
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
        except (ValueError, OSError) as error:
            raise RunConflictError(
                f"{self.path}: expected the run record this trainer writes, "
                f"received an unreadable file ({error}); use another "
                "--logdir, or --overwrite to replace the run"
            ) from None
        return saved

    def _resumable(self, saved):
        """The record if the logdir holds trained state, else `None`."""
        if saved is None:
            return None
        if saved.get("stage") == "evaluating":
            if (self.logdir / MODEL_FILE).is_file():
                return saved
            # The model is gone; the checkpoint (kept until the end) is not.
            saved = {**saved, "stage": "training", "training": {}}
        if (self.logdir / CHECKPOINT_DIR / RunCheckpoint.STATE_FILE).is_file():
            return saved
        return None

    def _refuse_unrecorded(self):
        found = [
            name
            for name in (
                MODEL_FILE,
                EVALUATION_FILE,
                CHECKPOINT_DIR,
                _LEGACY_CHECKPOINT_DIR,
            )
            if (self.logdir / name).exists()
        ]
        if found:
            raise RunConflictError(
                f"{self.logdir} holds {', '.join(found)} but no run record "
                f"({RUN_FILE}), so which run they belong to is unknown; use "
                "another --logdir, or --overwrite to replace them"
            )

    def _refuse_difference(self, name, recorded, given):
        # Name the argument that differs within a dict of settings.
        if isinstance(recorded, dict) and isinstance(given, dict):
            for key in sorted(set(recorded) | set(given)):
                if recorded.get(key, _UNSET) != given.get(key, _UNSET):
                    name = f"{name}.{key}"
                    recorded = recorded.get(key, _UNSET)
                    given = given.get(key, _UNSET)
                    break
        raise RunConflictError(
            f"{self.logdir} holds another run: its {name} is "
            f"{_show(recorded)}, this run's is {_show(given)}; use another "
            "--logdir, or --overwrite to replace that run"
        )

    def _write(self):
        record = {
            "stage": self.stage,
            "definition": self.definition,
            "training": self.training,
        }
        try:
            write_atomically(
                self.path,
                lambda path: pathlib.Path(path).write_text(
                    json.dumps(record, indent=2), encoding="utf-8"
                ),
            )
        except PermissionError as error:
            raise ValueError(
                f"--logdir {self.logdir}: expected a writable directory, "
                f"received one where {RUN_FILE} cannot be written "
                f"({error.strerror})"
            ) from None


# A setting missing from one of two recorded dicts.
_UNSET = object()


def _show(value):
    return "unset" if value is _UNSET else json.dumps(value)


def _check_logdir(logdir):
    if logdir.exists() and not logdir.is_dir():
        raise ValueError(
            f"--logdir {logdir}: expected a directory, received a file"
        )
    try:
        logdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"--logdir {logdir}: expected a directory that can be created, "
            f"received a path where it cannot ({error.strerror})"
        ) from None


def _clear_run(logdir):
    """Deletes what a run wrote in `logdir` but learned vocabularies."""
    for name in (RUN_FILE, MODEL_FILE, EVALUATION_FILE):
        for path in (logdir / name, _partial_path(logdir / name)):
            path.unlink(missing_ok=True)
    for name in (CHECKPOINT_DIR, _LEGACY_CHECKPOINT_DIR):
        shutil.rmtree(logdir / name, ignore_errors=True)
    for name in _LOG_DIRS:
        folder = logdir / name
        # Only folders of event files: a "train" folder of data stays.
        if folder.is_dir() and all(
            path.is_dir() or path.name.startswith("events.out.tfevents")
            for path in folder.rglob("*")
        ):
            shutil.rmtree(folder)


def _partial_path(path):
    # Hidden, beside the target (one file system, so renaming is atomic),
    # with the target's suffix, which `model.save` checks.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_atomically(path, write):
    """Writes a file under a temporary name, then renames it into place.

    A kill during `write` leaves the previous file (or none) at `path`,
    never a truncated one; the temporary file is synced first, so the
    rename never exposes unwritten data.

    Args:
        path: The file to write.
        write: A function that writes the file at the path it is given
            (e.g. `model.save`).

    Returns:
        `path`, as a `pathlib.Path`.

    Example:

    ```python
    write_atomically("runs/x/model.keras", model.save)
    ```
    """
    path = pathlib.Path(path)
    partial = _partial_path(path)
    write(str(partial))
    with open(partial, "rb") as file:
        os.fsync(file.fileno())
    os.replace(partial, path)
    return path


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the training state at every epoch end and restores it.

    What `keras.callbacks.BackupAndRestore` does, made safe against a
    kill at any moment and complete enough that a resumed run ends where
    an uninterrupted one would: each epoch's weights (with the
    optimizer's state) go to a file of their own, and `state.json`,
    replaced atomically after them, names the file to restore; the state
    also holds early stopping's (its best epoch's weights are kept, so a
    resumed run restores the same best weights) and the training clock's
    (so a resumed run's record counts every epoch).

    The trainer reads `epochs` and `stopped` before `fit`, for
    `initial_epoch`; `on_train_begin` restores the weights and the
    callbacks' state, so it comes after `early_stopping` (which resets
    its state there) and the `clock` in the callback list.

    Args:
        directory: The checkpoint folder, created at the first save.
        early_stopping: Optional `keras.callbacks.EarlyStopping` whose
            state is saved and restored.
        clock: Optional `TrainingClock` whose counts are saved and
            restored.
    """

    STATE_FILE = "state.json"

    def __init__(self, directory, early_stopping=None, clock=None):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.early_stopping = early_stopping
        self.clock = clock
        path = self.directory / self.STATE_FILE
        self.state = json.loads(path.read_text()) if path.is_file() else {}
        self._restored_seconds = self.state.get("fit_seconds", 0.0)
        self._fit_start = self._fit_end = None

    @property
    def epochs(self):
        """Epochs trained, as of the last save."""
        return self.state.get("epochs", 0)

    @property
    def stopped(self):
        """Whether training had stopped (early or out of time) by then."""
        return self.state.get("stopped", False)

    @property
    def fit_seconds(self):
        """Wall seconds in `fit`, with those of the runs it resumed."""
        if self._fit_end is None:
            return self.state.get("fit_seconds", 0.0)
        return self._restored_seconds + self._fit_end - self._fit_start

    def on_train_begin(self, logs=None):
        self._fit_start = time.perf_counter()
        if not self.state:
            return
        _build_optimizer(self.model)
        stopping = self.state.get("early_stopping")
        if self.early_stopping is not None and stopping:
            if stopping["best_weights"] is not None:
                self._restore(stopping["best_weights"])
                self.early_stopping.best_weights = self.model.get_weights()
            for name in ("wait", "best", "best_epoch", "stopped_epoch"):
                setattr(self.early_stopping, name, stopping[name])
        self._restore(self.state["weights"])
        if self.clock is not None:
            self.clock.pairs = self.state["clock"]["pairs"]
            self.clock.seconds = self.state["clock"]["seconds"]

    def on_train_end(self, logs=None):
        self._fit_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{epoch + 1}.weights.h5"
        # Not atomic, and need not be: until `state.json` names it, the
        # file is not read.
        self.model.save_weights(self.directory / weights, overwrite=True)
        state = {
            "epochs": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "weights": weights,
            "fit_seconds": self._restored_seconds
            + time.perf_counter()
            - self._fit_start,
        }
        if self.clock is not None:
            state["clock"] = {
                "pairs": self.clock.pairs,
                "seconds": self.clock.seconds,
            }
        if self.early_stopping is not None:
            state["early_stopping"] = _early_stopping_state(self.early_stopping)
        write_atomically(
            self.directory / self.STATE_FILE,
            lambda path: pathlib.Path(path).write_text(json.dumps(state)),
        )
        self.state = state
        kept = {weights, state.get("early_stopping", {}).get("best_weights")}
        for path in self.directory.glob("epoch-*.weights.h5"):
            if path.name not in kept:
                path.unlink()

    def _restore(self, name):
        path = self.directory / name
        try:
            self.model.load_weights(path)
        except (OSError, ValueError) as error:
            reason = str(error).strip().splitlines()[0]
            raise ValueError(
                f"{path}: expected the checkpoint of this run, received one "
                f"that cannot be restored ({reason}); rerun with --overwrite "
                "to start the run afresh"
            ) from error


def _build_optimizer(model):
    # Its variables must exist to receive the saved ones.
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _early_stopping_state(callback):
    """What `EarlyStopping` keeps between epochs, as JSON."""
    best_weights = None
    if callback.best_weights is not None:
        # Kept by `RunCheckpoint`: the weights saved at that epoch's end,
        # which `EarlyStopping` copied then.
        best_weights = f"epoch-{callback.best_epoch + 1}.weights.h5"
    return {
        "wait": int(callback.wait),
        "best": None if callback.best is None else float(callback.best),
        "best_epoch": int(callback.best_epoch),
        "stopped_epoch": int(callback.stopped_epoch),
        "best_weights": best_weights,
    }
