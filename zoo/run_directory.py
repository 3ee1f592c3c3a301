"""A run directory: the record that makes a run resumable, its epoch
checkpoints, and what a fresh start deletes.

A run directory (`logdir`) goes through three stages, kept in
`LOGDIR/run.json`: "training" (a checkpoint at the end of every epoch in
`LOGDIR/checkpoint`), "evaluating" (`model.keras` saved) and "finished"
(`evaluation.json` written). A rerun with the same settings resumes at
the stage where a run stopped; a rerun with other settings, or in a
finished run, is refused unless `overwrite=True`. Every file is written
atomically (`zoo.files.write_atomically`).
"""

import json
import pathlib
import shutil
import time

import keras
import numpy as np

from zoo.files import partial_path
from zoo.files import write_atomically

# What a run writes into its logdir.
RUN_FILE = "run.json"
CHECKPOINT_DIR = "checkpoint"
MODEL_FILE = "model.keras"
EVALUATION_FILE = "evaluation.json"
# Also deleted by `overwrite`: TensorBoard's and `AttentionSummary`'s log
# folders, and the checkpoint folder of versions before the run record.
_LOG_DIRS = ("train", "validation", "attention")
_LEGACY_CHECKPOINT_DIR = "backup"


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
        holder: Optional JSON-able description of the process that runs
            it (`zoo.run_lock.RunLock.holder`: pid, host, since),
            recorded as `"holder"` with every write.

    Raises:
        ValueError: If `logdir` is a file, or cannot be created or
            written to, naming it.
        RunConflictError: For a finished run, or a model or checkpoint
            without a record, unless `overwrite`.
    """

    def __init__(self, logdir, overwrite=False, holder=None):
        self.logdir = pathlib.Path(logdir)
        self.holder = holder
        self.path = self.logdir / RUN_FILE
        check_logdir(self.logdir)
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
        if self.holder is not None:
            record["holder"] = self.holder
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


def check_logdir(logdir):
    """Creates `logdir` if missing.

    Raises:
        ValueError: If `logdir` is a file or cannot be created, naming it.
    """
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
        for path in (logdir / name, partial_path(logdir / name)):
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


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the training state at every epoch end and restores it.

    What `keras.callbacks.BackupAndRestore` does, made safe against a
    kill at any moment and complete enough that a resumed run ends where
    an uninterrupted one would: each epoch's weights (with the
    optimizer's state) go to a file of their own, and `state.json`,
    replaced atomically after them, names the file to restore. The state
    also holds what the weights file leaves out and the next epoch
    depends on: the model's random state (the states of its
    `keras.random.SeedGenerator`s, which draw dropout masks and hard
    attention's samples: restored, the next epoch draws what it would
    have drawn), early stopping's (its best epoch's weights are kept, so
    a resumed run restores the same best weights) and that of the
    callbacks in `states` (the training clock's counts, so a resumed
    run's record counts every epoch; the time budget's spent seconds, so
    a resumed run gets what is left of it).

    The trainer reads `epochs` and `stopped` before `fit`, for
    `initial_epoch`; `on_train_begin` restores the weights and the
    callbacks' state, so it comes after `early_stopping` (which resets
    its state there) and the callbacks of `states` in the callback list.

    Args:
        directory: The checkpoint folder, created at the first save.
        early_stopping: Optional `keras.callbacks.EarlyStopping` whose
            state is saved and restored.
        states: Optional dict from a name to an object (a callback) with
            `get_state()`, which returns its state as a JSON-able dict,
            and `set_state(state)`, which restores it; saved under its
            name, and restored where the checkpoint holds that name
            (one of an older version may not).
    """

    STATE_FILE = "state.json"

    def __init__(self, directory, early_stopping=None, states=None):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.early_stopping = early_stopping
        self.states = dict(states or {})
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
        build_optimizer(self.model)
        stopping = self.state.get("early_stopping")
        if self.early_stopping is not None and stopping:
            if stopping["best_weights"] is not None:
                self._restore(stopping["best_weights"])
                self.early_stopping.best_weights = self.model.get_weights()
            for name in ("wait", "best", "best_epoch", "stopped_epoch"):
                setattr(self.early_stopping, name, stopping[name])
        self._restore(self.state["weights"])
        if "random_state" in self.state:
            set_random_state(self.model, self.state["random_state"])
        for name, stateful in self.states.items():
            if name in self.state:
                stateful.set_state(self.state[name])

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
        state["random_state"] = random_state(self.model)
        for name, stateful in self.states.items():
            state[name] = stateful.get_state()
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


def random_state(model):
    """The states of the model's seed generators, as JSON.

    `model.variables` holds the weights and the states of the
    `keras.random.SeedGenerator`s of its layers (dropout, sampling),
    which `save_weights` leaves out: a model restored from its weights
    alone would draw the random numbers of its first epoch again.

    Returns:
        A list of the states, each a list of integers, in the order of
        `model.variables`.
    """
    return [
        keras.ops.convert_to_numpy(variable).tolist()
        for variable in _seed_states(model)
    ]


def set_random_state(model, states):
    """Restores the states `random_state` returned.

    Raises:
        ValueError: If `states` does not fit the model's seed generators
            (another model's), naming both counts or shapes.
    """
    variables = _seed_states(model)
    shapes = [tuple(variable.shape) for variable in variables]
    saved = [np.shape(state) for state in states]
    if shapes != saved:
        raise ValueError(
            "The checkpoint's random state must fit the model's seed "
            f"generators, of shapes {shapes}. Received: states of shapes "
            f"{saved}; rerun with --overwrite to start the run afresh"
        )
    for variable, state in zip(variables, states, strict=True):
        variable.assign(np.asarray(state, dtype=variable.dtype))


def _seed_states(model):
    weights = {id(weight) for weight in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def build_optimizer(model):
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
