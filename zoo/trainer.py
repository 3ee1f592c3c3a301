"""The trainer shared by every zoo task.

`train(task, **options)` owns the run: seeding, the `model.fit` loop with
Keras progress bars, resuming (`BackupAndRestore`), the time budget
(`TimeBudget`), early stopping, mixed precision (restoring the dtype
policy afterwards), `jit_compile`, the `tf.distribute` strategy,
TensorBoard and `AttentionSummary`, saving the model and writing the
evaluation record. A `Task` supplies the rest: its options, data and
preprocessing, model, loss and metrics, what `AttentionSummary` decodes,
the evaluation and its report.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import time
import warnings

import keras

from keras_attention.callbacks import AttentionSummary
from zoo.options import Option
from zoo.options import document
from zoo.options import merge
from zoo.options import resolve
from zoo.tasks import get_task

TRAINER_OPTIONS = (
    Option(
        "logdir",
        str,
        None,
        "Where checkpoints, TensorBoard logs, the model and "
        "evaluation.json go; rerunning with the same logdir resumes an "
        "interrupted run from its last epoch. Default: runs/TASK.",
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
    resolved options, then calls `load_data`, `build_model`, `optimizer`,
    `loss`, `metrics` and `attention_summary`, trains, saves and calls
    `evaluate`; `keras-attention-zoo train` prints the record with
    `print_results`.

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

    Args:
        task: The registered task name, e.g. `"translation"`.
        **options: Options of the task and the trainer; `None` or left
            out means the default.

    Returns:
        The task's test metrics (`Task.evaluate`) with the training
        record: `train_pairs_per_second`, `train_pairs` and
        `train_seconds` (time in training steps only), `fit_seconds`,
        `epochs` run, `model_path` and `logdir`. The same dict is written
        to `logdir/evaluation.json`.

    Raises:
        ValueError: For an unknown task, an unknown option or an invalid
            value, naming it.

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
    config.logdir.mkdir(parents=True, exist_ok=True)
    runner = task_class(config)
    data = runner.load_data()
    with mixed_precision_policy(config.mixed_precision):
        model = _build_and_compile(runner, data, config)
        clock = TrainingClock(data.num_examples, config.batch_size)
        fit_start = time.perf_counter()
        history = _fit(model, data, _callbacks(runner, model, clock), config)
        fit_seconds = time.perf_counter() - fit_start
        model_path = config.logdir / "model.keras"
        model.save(model_path)
        results = runner.evaluate(model)
    results.update(
        {
            "train_pairs_per_second": (
                clock.pairs / clock.seconds if clock.seconds else 0.0
            ),
            "train_pairs": clock.pairs,
            "train_seconds": clock.seconds,
            "fit_seconds": fit_seconds,
            "epochs": len(history.history.get("loss", [])),
            "model_path": str(model_path),
            "logdir": str(config.logdir),
        }
    )
    (config.logdir / "evaluation.json").write_text(
        json.dumps(results, indent=2)
    )
    return results


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
        # weights exist before `BackupAndRestore` restores a checkpoint
        # and the summaries decode.
        inputs, _ = next(iter(data.valid))
        model(keras.tree.map_structure(lambda tensor: tensor[:1], inputs))
    return model


def _callbacks(task, model, clock):
    config = task.config
    time_budget = []
    if config.max_minutes is not None:
        time_budget = [TimeBudget(config.max_minutes, config.anneal_fraction)]
    summaries = []
    summary = task.attention_summary(model)
    if summary is not None:
        summaries = [AttentionSummary(logdir=str(config.logdir), **summary)]
    # `BackupAndRestore` comes after the clock and the budget (which read
    # the rate before a restore) and before callbacks that see restored
    # weights.
    return [
        clock,
        *time_budget,
        keras.callbacks.BackupAndRestore(str(config.logdir / "backup")),
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=config.patience,
            restore_best_weights=True,
        ),
        keras.callbacks.TensorBoard(str(config.logdir)),
        *summaries,
        *(config.callbacks or []),
    ]


def _fit(model, data, callbacks, config):
    with warnings.catch_warnings():
        # Bucketed datasets have no known length: Keras counts the batches
        # of the first epoch and warns that the input "ran out of data".
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        return model.fit(
            data.train,
            validation_data=data.valid,
            epochs=config.epochs,
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
            # Read before `BackupAndRestore` (a later callback) restores a
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
