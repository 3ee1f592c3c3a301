"""The commands of zoo tasks, declared once for the CLI and Python.

A task declares its commands (`Task.commands`): `evaluate`, its
inference verb (`translate`, `caption`, `summarize`), `export` and any
other (`cache-features`), each a `Command` with its positional
`Argument`s and its `zoo.options.Option`s. The command line (`zoo.cli`)
and `run_command` derive from those declarations, so a new task gets all
of its commands with its registration.

A command that takes a model finds the model's task from the model's
class (`Task.model_class`): `evaluate MODEL` runs the evaluation of the
task that trained MODEL. Several tasks may declare a command of the same
name (every task has `evaluate` and `export`); each then takes its own
options, and an option of another task's command is refused.
"""

import dataclasses
import pathlib
import types
import zipfile

from zoo.options import resolve
from zoo.tasks import get_task
from zoo.tasks import import_tasks
from zoo.tasks import task_names

PROG = "keras-attention-zoo"


@dataclasses.dataclass(frozen=True)
class Argument:
    """A positional argument of a command.

    Args:
        name: The Python keyword, e.g. `"texts"`.
        help: What the argument is, for `--help`.
        nargs: `None` for one value, `"*"` or `"+"` for a list.
        metavar: Its name in `--help` (default: `name` in capitals).
    """

    name: str
    help: str = ""
    nargs: str = None
    metavar: str = None


@dataclasses.dataclass(frozen=True)
class Command:
    """One command of a task, e.g. its `evaluate` or `caption`.

    Args:
        name: The command's name on the command line, e.g. `"caption"`.
        help: One line for the list of commands.
        run: The function that runs it: `run(model, config)` when
            `takes_model`, else `run(config)`; `config` is a
            `types.SimpleNamespace` of the arguments and the resolved
            options. What it returns, `run_command` returns.
        arguments: The positional `Argument`s (after MODEL).
        options: The `zoo.options.Option`s.
        description: The paragraph of `--help`.
        epilog: Examples shown at the end of `--help`.
        takes_model: Whether the first positional argument is a saved
            model (`.keras`) of the task.
    """

    name: str
    help: str
    run: object
    arguments: tuple = ()
    options: tuple = ()
    description: str = ""
    epilog: str = ""
    takes_model: bool = True


def commands_by_name():
    """Every registered task's commands, grouped by name.

    Returns:
        A dict from command name to a dict from task name to `Command`,
        in the order of `task_names()`.
    """
    grouped = {}
    for task_name in task_names():
        for command in get_task(task_name).commands:
            grouped.setdefault(command.name, {})[task_name] = command
    for name, commands in grouped.items():
        _check_same_arguments(name, commands)
    return grouped


def _check_same_arguments(name, commands):
    """Refuses tasks whose commands of one name take other arguments.

    `evaluate MODEL` parses its positional arguments before it knows the
    model's task, so every task's `evaluate` must take the same ones.
    """

    def shape(command):
        names = [(a.name, a.nargs) for a in command.arguments]
        return ["MODEL"] * command.takes_model + names

    (first_task, first), *others = commands.items()
    for task, command in others:
        if shape(command) != shape(first):
            raise ValueError(
                f"The `{name}` commands of tasks {first_task!r} and {task!r} "
                "must take the same positional arguments. Received: "
                f"{shape(first)} and {shape(command)}"
            )


def load_model(path, tasks=None, command=None):
    """Loads a saved zoo model and names its task.

    Every registered task is imported first, so that its model classes
    are registered with Keras for deserialization.

    Args:
        path: The `.keras` file.
        tasks: The names of the tasks whose models are expected (those
            that have the command to run); `None` for any task.
        command: The command the model is for (e.g. `"caption"`), named
            in the error about a model of another kind.

    Returns:
        `(model, task_name)`.

    Raises:
        ValueError: Saying what is wrong with `path`, or naming the kind
            of model expected and the kind received (another task's, or
            no task's).
    """
    import keras

    path = pathlib.Path(path)
    expected = f"MODEL {path}: expected a .keras model file"
    if not path.exists():
        raise ValueError(f"{expected}, received a path that does not exist")
    if path.is_dir():
        raise ValueError(f"{expected}, received a directory")
    if not zipfile.is_zipfile(path):
        # What `model.save` leaves when killed, or another kind of file.
        raise ValueError(
            f"{expected}, received a file that is not a complete .keras "
            f"archive ({path.stat().st_size} bytes; truncated?)"
        )
    import_tasks()  # Their modules register their classes with Keras.
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, KeyError, OSError) as error:
        raise ValueError(
            f"{expected}, received one that cannot be loaded "
            f"({first_line(error)})"
        ) from None
    found = _task_name_of(model)
    if found is None or (tasks is not None and found not in tasks):
        raise ValueError(
            f"MODEL {path}: " + _wrong_model(model, found, tasks, command)
        )
    return model, found


def _wrong_model(model, found, tasks, command):
    """What a command expected and what kind of model it received."""
    if tasks is None:
        wanted = f"a zoo model (from `{PROG} train TASK`)"
    elif len(tasks) == 1:
        wanted = f"a {tasks[0]} model (from `{PROG} train {tasks[0]}`)"
    else:
        kinds = f"{', '.join(tasks[:-1])} or {tasks[-1]}"
        wanted = f"a {kinds} model (from `{PROG} train TASK`)"
    needs = f"`{command}` needs" if command else "expected"
    kind = type(model).__name__
    received = (
        f"a {kind}, not a zoo model"
        if found is None
        else f"a {found} model ({kind})"
    )
    return f"{needs} {wanted}, received {received}"


def command_of(name, task_name):
    """The `Command` called `name` of the task `task_name`.

    Raises:
        ValueError: If no task has that command, or the task has not.
    """
    commands = _commands_named(name)
    if task_name not in commands:
        owners = " or ".join(commands)
        raise ValueError(
            f"`{name}` needs a {owners} model, received a {task_name} model"
        )
    return commands[task_name]


def _commands_named(name):
    """The tasks' commands called `name`, by task, or a `ValueError`."""
    grouped = commands_by_name()
    if name not in grouped:
        raise ValueError(
            f"Unknown command {name!r}; commands: "
            f"{', '.join(sorted(grouped))}. Received: command={name!r}"
        )
    return grouped[name]


def run_command(name, model=None, **keywords):
    """Runs a task's command from Python, as the command line does.

    Args:
        name: The command, e.g. `"evaluate"` or `"caption"`.
        model: For a command that takes one: the saved model's path, or
            a loaded zoo model.
        **keywords: The command's positional arguments and options by
            their Python names (`beam_width=4`); options left out take
            their defaults.

    Returns:
        What the command's function returns.

    Raises:
        ValueError: For a model of a task without that command, or an
            unknown or invalid keyword, naming it.

    Example:

    ```python
    from zoo.commands import run_command

    run_command("evaluate", "runs/dates/model.keras", beam_width=4)
    run_command("translate", "runs/dates/model.keras", texts=["9 may 2018"])
    ```
    """
    # Commands of one name agree on taking a model (`commands_by_name`).
    command = next(iter(_commands_named(name).values()))
    if model is None:
        if command.takes_model:
            raise ValueError(f"`{name}` needs a model. Received: model=None")
        return command.run(command_config(command, keywords))
    if isinstance(model, (str, pathlib.Path)):
        tasks = tuple(_commands_named(name))
        model, task_name = load_model(model, tasks, command=name)
    else:
        task_name = task_of(model)
    command = command_of(name, task_name)
    return command.run(model, command_config(command, keywords))


def task_of(model):
    """The name of the registered task whose model `model` is."""
    name = _task_name_of(model)
    if name is None:
        raise ValueError(
            "`model` must be a model trained by a zoo task. Received: "
            f"model={type(model).__name__}"
        )
    return name


def _task_name_of(model):
    """The registered task whose `model_class` `model` is, or `None`."""
    for name in task_names():
        model_class = get_task(name).model_class
        if model_class is not None and isinstance(model, model_class):
            return name
    return None


def command_config(command, keywords):
    """The arguments and resolved options of `command`, as a namespace.

    Args:
        command: A `Command`.
        keywords: Its positional arguments and options by Python name.

    Raises:
        ValueError: For a missing argument, or an unknown or invalid
            option, naming it.
    """
    names = {argument.name for argument in command.arguments}
    arguments = {key: keywords[key] for key in names if key in keywords}
    missing = [
        a.name
        for a in command.arguments
        if a.name not in arguments and a.nargs not in ("*", "?")
    ]
    if missing:
        raise ValueError(
            f"`{command.name}` needs {', '.join(missing)}. Received: "
            f"{', '.join(f'{name}=None' for name in missing)}"
        )
    for argument in command.arguments:
        arguments.setdefault(argument.name, [])
    options = {
        key: value for key, value in keywords.items() if key not in names
    }
    resolved = resolve(command.options, options, f"`{command.name}`")
    return types.SimpleNamespace(**arguments, **vars(resolved))


def first_line(error):
    """The first line of an error's message (or its type's name)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class ItemErrors(ValueError):
    """Items a command could not handle while it handled the others.

    A command given several items (`caption` given image files) reports
    each item it cannot handle (an unreadable image) and goes on with the
    others; at the end it raises `ItemErrors`, and the command line prints
    each line as an error and exits with status 2.

    Args:
        lines: One message per failed item, each naming the item.

    Example:

    >>> error_lines(ItemErrors(["IMAGE a.jpg: unreadable", "IMAGE b: x"]))
    ['IMAGE a.jpg: unreadable', 'IMAGE b: x']
    """

    def __init__(self, lines):
        self.lines = tuple(lines)
        super().__init__("\n".join(self.lines))


def error_lines(error):
    """The lines the command line prints for an error.

    Each line of an `ItemErrors`; for any other error its first line.
    """
    if isinstance(error, ItemErrors):
        return list(error.lines)
    return [first_line(error)]
