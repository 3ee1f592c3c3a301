"""The registry of zoo tasks: what `keras-attention-zoo train TASK` trains.

A task is a folder under `zoo/` holding a `zoo.trainer.Task` subclass,
plus one line here (or one `register_task` call elsewhere). Tasks are
registered by import path and imported when first used, so that this
registry imports nothing heavy and a task module may import the trainer;
`import zoo` then imports the built-in tasks (`import_tasks`), so that
Keras knows their models' classes.
"""

import importlib

_TASKS = {
    "captioning": "zoo.captioning.task:CaptioningTask",
    "summarization": "zoo.summarization.task:SummarizationTask",
    "translation": "zoo.translation.task:TranslationTask",
}
# The classes of the tasks imported so far, by name.
_IMPORTED = {}


def register_task(name, task):
    """Registers a task for `zoo.trainer.train(name)` and `train name`.

    Args:
        name: The task's name on the command line, e.g. `"translation"`.
        task: The `zoo.trainer.Task` subclass, or its import path
            `"package.module:ClassName"`, imported when first used.

    Raises:
        ValueError: If `name` already names another task.

    Example:

    ```python
    register_task("reversal", "my_tasks.reversal:ReversalTask")
    zoo.trainer.train("reversal", logdir="runs/reversal", epochs=2)
    ```
    """
    if not isinstance(name, str) or not name or name.startswith("-"):
        raise ValueError(
            "`name` must be a non-empty string not starting with '-'. "
            f"Received: name={name!r}"
        )
    if not isinstance(task, (str, type)):
        raise ValueError(
            "`task` must be a Task subclass or an import path "
            f"'module:ClassName'. Received: task={task!r}"
        )
    if name in _TASKS and _TASKS[name] != task:
        raise ValueError(
            f"A task named {name!r} is already registered "
            f"({_TASKS[name]!r}). Received: task={task!r}"
        )
    _TASKS[name] = task


def task_names():
    """The names of the registered tasks, sorted."""
    return sorted(_TASKS)


def get_task(name):
    """The `zoo.trainer.Task` subclass registered under `name`.

    Raises:
        ValueError: If no task has that name.
    """
    if name not in _TASKS:
        raise ValueError(
            f"Unknown task {name!r}; registered tasks: "
            f"{', '.join(task_names())}. Received: task={name!r}"
        )
    task = _TASKS[name]
    if not isinstance(task, str):
        return task
    if _IMPORTED.get(name, (None,))[0] != task:
        module, _, attribute = task.partition(":")
        _IMPORTED[name] = (
            task,
            getattr(importlib.import_module(module), attribute),
        )
    return _IMPORTED[name][1]


def import_tasks():
    """Imports every registered task, registering its classes with Keras.

    A task's modules register the classes of its saved models (models,
    layers, losses, schedules) with `keras.saving`, so that
    `keras.saving.load_model` reads the task's `.keras` files. `import zoo`
    imports the built-in tasks this way; call it again after registering
    a task of your own. (Keras itself imports no module to find a class
    that is not its own: a saved model loads only once its classes are
    imported.)

    Example:

    ```python
    import keras
    import zoo  # noqa: F401 (registers every zoo model with Keras)

    model = keras.saving.load_model("runs/captioning/model.keras")
    ```
    """
    for name in task_names():
        get_task(name)
