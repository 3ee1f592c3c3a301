"""The trainer shared by every zoo task.

`train(task, **options)` owns the run: its lock (`RunLock`: one run per
logdir), its record (`RunRecord`: what defines the run and how far it
got, so that a rerun resumes it or is refused), seeding, the `model.fit`
loop with Keras progress bars, the epoch checkpoints (`RunCheckpoint`),
the time budget (`TimeBudget`), early stopping, mixed precision
(restoring the dtype policy afterwards), `jit_compile`, the
`tf.distribute` strategy, TensorBoard and `AttentionSummary`, saving the
model and writing the evaluation record, both atomically. A `Task`
supplies the rest: its options, data and preprocessing, model, loss and
metrics, what `AttentionSummary` decodes, the evaluation and its report,
and what defines its runs (`definition`, `define`).

The rooms around it: `zoo.task` (the `Task` protocol and the trainer's
options), `zoo.run_directory` (the run record, epoch checkpoints and
atomic writes that make a run resumable), `zoo.run_lock` (the logdir's
lock) and `zoo.clock` (the time budget and the throughput clock).
"""

import contextlib
import json
import os
import pathlib
import warnings

import keras

from keras_attention.callbacks import AttentionSummary
from zoo.clock import TimeBudget
from zoo.clock import TrainingClock
from zoo.files import write_atomically
from zoo.options import document
from zoo.options import resolve
from zoo.run_directory import CHECKPOINT_DIR
from zoo.run_directory import EVALUATION_FILE
from zoo.run_directory import MODEL_FILE
from zoo.run_directory import RunCheckpoint
from zoo.run_directory import RunConflictError
from zoo.run_directory import RunRecord
from zoo.run_directory import build_optimizer
from zoo.run_lock import RunLock
from zoo.run_lock import RunLockedError
from zoo.task import TRAINER_OPTIONS
from zoo.task import Task
from zoo.task import TrainingData
from zoo.task import grouped_options
from zoo.task import options_of
from zoo.task import training_summary
from zoo.tasks import get_task

# A task module writes `from zoo.trainer import Task`, as before the
# trainer's rooms were split; these names stay importable from here.
__all__ = [
    "RunConflictError",
    "RunLockedError",
    "RunRecord",
    "Task",
    "TimeBudget",
    "TrainingClock",
    "TrainingData",
    "grouped_options",
    "mixed_precision_policy",
    "options_of",
    "train",
    "training_summary",
]


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
    other settings, is refused unless `overwrite=True`. A logdir is held
    by one run at a time (`RunLock`): one in use by another run is
    refused, `overwrite` or not. The model and
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
            logdir that holds a finished run or another run, and its
            `RunLockedError` for one in use by another run.

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
    # Held before anything in the logdir is read or deleted.
    with RunLock(config.logdir) as lock:
        record = RunRecord(
            config.logdir, overwrite=config.overwrite, holder=lock.holder
        )
        runner.run_record = record
        record.define(task=task, seed=config.seed, **runner.definition())
        return _run(runner, record)


def _run(task, record):
    """Trains (or resumes), saves and evaluates; records each stage."""
    config = task.config
    data = task.load_data()
    model_path = config.logdir / MODEL_FILE
    with mixed_precision_policy(config.mixed_precision):
        model = _build_and_compile(task, data, config)
        if record.stage == "evaluating":
            # Killed while evaluating: the trained model is saved.
            _say(
                config, f"Resuming the run in {config.logdir} at its evaluation"
            )
            model.load_weights(model_path)
        else:
            _train_and_save(task, model, data, record)
        results = task.evaluate(model)
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
    # The callbacks whose state the checkpoint keeps, by name.
    states = {"clock": clock}
    if config.max_minutes is not None:
        states["time_budget"] = TimeBudget(
            config.max_minutes, config.anneal_fraction
        )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=config.patience,
        restore_best_weights=True,
    )
    checkpoint = RunCheckpoint(
        config.logdir / CHECKPOINT_DIR, early_stopping, states
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
    callbacks = _callbacks(task, model, states, early_stopping, checkpoint)
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
        # and the summaries decode; the loss too, for the weights of a
        # loss that holds state (hard attention's reward baseline), which
        # a restore would otherwise skip without a word. Not training,
        # it changes no state (the metrics it counts are reset by `fit`).
        inputs, targets = keras.tree.map_structure(
            lambda tensor: tensor[:1], next(iter(data.valid))
        )
        outputs = model(inputs)
        model.compute_loss(x=inputs, y=targets, y_pred=outputs, training=False)
        # Keras builds an optimizer in the first trace of the train step
        # when no distribution strategy built it; variables created while
        # tracing make TensorFlow trace the whole step a second time.
        build_optimizer(model)
    return model


def _callbacks(task, model, states, early_stopping, checkpoint):
    config = task.config
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
        *states.values(),
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
