"""What a zoo task is: the `Task` protocol and the options it declares.

`zoo.trainer.train` runs a `Task`; the command line (`zoo.cli`) derives
the task's commands from its declarations. The trainer's own options are
declared here too (`TRAINER_OPTIONS`), so that a task's `--help` and
keyword checks list both.
"""

import dataclasses

import keras

from zoo.options import Option
from zoo.options import merge
from zoo.tasks import get_task

TRAINER_OPTIONS = (
    Option(
        "logdir",
        str,
        None,
        "Where the run record, checkpoints, TensorBoard logs, the model "
        "and evaluation.json go. Rerunning with the same logdir and "
        "settings resumes an interrupted run from its last epoch (or at "
        "its evaluation); a logdir holding a finished run or another run "
        "is refused unless --overwrite, and one in use by a running train "
        "(LOGDIR/run.lock) is refused. Default: runs/TASK.",
    ),
    Option(
        "overwrite",
        bool,
        False,
        "Start afresh in a logdir that holds a finished or another run: "
        "its record, checkpoint, model, evaluation.json and TensorBoard "
        "logs are deleted first (learned vocabularies are kept); never "
        "one in use by a running train.",
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
        model_class: The class of the models the task saves (registered
            with Keras): a loaded model of this class is this task's, so
            `evaluate MODEL` and `export MODEL DIR` find the task.
        commands: The task's `zoo.commands.Command`s besides `train`:
            `evaluate`, its inference verb (`translate`, `caption`, ...)
            and `export`, with their arguments and options; the command
            line and `zoo.commands.run_command` derive from them.

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
    model_class = None
    commands = ()

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
