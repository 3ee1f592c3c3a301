"""`keras-attention-zoo`: train, evaluate, use and export zoo models.

The command line knows no task: `train TASK` trains any registered task
(`zoo.tasks`), and every other command is one that tasks declare
(`Task.commands`, `zoo.commands.Command`): `evaluate` and `export` take
a model of any task and run that task's; `translate`, `caption`,
`summarize` and `cache-features` belong to one task each.

A mistake (a bad argument, a missing or unreadable file, a logdir that
holds another run) is reported on one line, `keras-attention-zoo: error:
...`, naming the argument or file, what was expected and what was
received, with exit status 2; a command that goes on past items it
cannot handle (`caption` given an unreadable image among several) prints
one such line per item at the end, and exits with status 2 too; anything
else is a bug and keeps its traceback. Options may come before, between
or after the positional arguments (`translate MODEL --beam-width 4
TEXT`).
"""

import argparse
import dataclasses
import sys
import textwrap

from zoo.commands import PROG
from zoo.commands import command_config
from zoo.commands import command_of
from zoo.commands import commands_by_name
from zoo.commands import error_lines
from zoo.commands import load_model
from zoo.options import add_arguments
from zoo.options import from_arguments
from zoo.tasks import get_task
from zoo.tasks import task_names
from zoo.trainer import grouped_options
from zoo.trainer import options_of
from zoo.trainer import train

EPILOG = """examples:
  keras-attention-zoo train translation
  keras-attention-zoo train translation --arch luong --data spa-eng.zip \\
      --epochs 10 --logdir runs/spa-eng
  keras-attention-zoo train translation --help
  keras-attention-zoo evaluate runs/translation/model.keras --data spa-eng.zip
  keras-attention-zoo translate runs/translation/model.keras "9 may 2018"
  keras-attention-zoo export runs/translation/model.keras runs/translation/saved
  keras-attention-zoo train captioning --logdir runs/scenes
  keras-attention-zoo caption runs/scenes/model.keras scene.png \\
      --attention-dir attention/
  keras-attention-zoo cache-features flickr8k/ features.npz \\
      --backbone mobilenet_v2
  keras-attention-zoo train summarization --logdir runs/reports
  keras-attention-zoo train summarization --data dialogsum/ --coverage
  keras-attention-zoo summarize runs/reports/model.keras report.txt \\
      --attention-dir attention/
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports a mistake on one line."""

    def error(self, message):
        # argparse prints the whole usage first; the usage is one
        # `--help` away, and the mistake is what the user must see.
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(
        prog=PROG,
        description="Train and use the attention model zoo.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train(subparsers)
    for name, commands in commands_by_name().items():
        _add_command(subparsers, name, commands)
    parser.commands = subparsers.choices
    return parser


def _parse(argv):
    """Parses the command line; options may follow positional arguments.

    `parse_intermixed_args` takes `translate MODEL --beam-width 4 TEXT`,
    which plain argparse refuses once `TEXT...` has matched nothing, but
    it does not handle subcommands: the command's own parser parses what
    follows the command's name.
    """
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in parser.commands and argv[0] != "train":
        args = parser.commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)


def _add_train(subparsers):
    """`train TASK`: one subcommand per registered task, flags declared."""
    train_command = subparsers.add_parser(
        "train",
        help="train a zoo model",
        description="Trains the model of a zoo task, saves it and "
        "evaluates it on the test split; `train TASK --help` lists the "
        "task's options. Rerunning with the same --logdir resumes.",
    )
    tasks = train_command.add_subparsers(
        dest="task", required=True, metavar="TASK"
    )
    for name in task_names():
        task = get_task(name)
        summary = task.description.split(". ")[0].rstrip(".")
        parser = tasks.add_parser(
            name,
            help=summary[:1].lower() + summary[1:],
            description=task.description,
        )
        own, shared = grouped_options(task.options)
        add_arguments(parser.add_argument_group(f"{name} options"), own)
        add_arguments(parser.add_argument_group("training options"), shared)


def _add_command(subparsers, name, commands):
    """A command that one or several tasks declare, with their flags.

    Declared by several tasks (`evaluate`, `export`), its description is
    given per task and its flags are grouped by the tasks that declare
    them; a flag several tasks declare is added once, with each task's
    help and default where they differ.
    """
    first = next(iter(commands.values()))
    if len(commands) > 1:
        description = "\n\n".join(
            textwrap.fill(f"{task}: {command.description}", 79)
            for task, command in commands.items()
        )
    else:
        description = textwrap.fill(first.description, 79)
    parser = subparsers.add_parser(
        name,
        help=first.help,
        description=description,
        epilog="".join(command.epilog for command in commands.values()) or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if first.takes_model:
        parser.add_argument("model", metavar="MODEL")
    for argument in first.arguments:
        parser.add_argument(
            argument.name,
            nargs=argument.nargs,
            metavar=argument.metavar or argument.name.upper(),
            help=argument.help,
        )
    for owners, options in _options_by_owners(commands).items():
        if len(commands) == 1:
            group = parser
        elif len(owners) == len(commands):
            group = parser.add_argument_group("options of every task")
        else:
            group = parser.add_argument_group(f"{' and '.join(owners)} options")
        add_arguments(group, options)


def _options_by_owners(commands):
    """The commands' options grouped by the tuple of tasks declaring them.

    An option that tasks declare with different helps or defaults gets a
    help naming each task's, and no default of its own (each task's
    applies when the command runs).
    """
    declarations = {}
    for task, command in commands.items():
        for option in command.options:
            declarations.setdefault(option.name, {})[task] = option
    grouped = {}
    for declared in declarations.values():
        options = list(declared.values())
        option = options[0]
        differ = any(
            (other.help, other.default) != (option.help, option.default)
            for other in options[1:]
        )
        if differ:
            option = dataclasses.replace(
                option,
                default=None,
                help="; ".join(
                    f"{task}: {other.help.rstrip('.')}"
                    + ("" if other.default is None else f" ({other.default})")
                    for task, other in declared.items()
                ),
            )
        grouped.setdefault(tuple(declared), []).append(option)
    return grouped


def _train(args):
    task = get_task(args.task)
    results = train(args.task, **from_arguments(args, options_of(task)))
    print()
    task.print_results(results)
    print(f"model saved to {results['model_path']}")
    print(
        f"look at the attention with: tensorboard --logdir {results['logdir']}"
    )


def _run(args):
    """Runs a declared command with the parsed arguments."""
    commands = commands_by_name()[args.command]
    given = {
        option.name: getattr(args, option.name)
        for command in commands.values()
        for option in command.options
        if option.cli and getattr(args, option.name, None) is not None
    }
    first = next(iter(commands.values()))
    positional = {a.name: getattr(args, a.name) for a in first.arguments}
    if not first.takes_model:
        return first.run(command_config(first, {**positional, **given}))
    model, task_name = load_model(
        args.model, tuple(commands), command=args.command
    )
    command = command_of(args.command, task_name)
    _refuse_other_tasks_options(args, commands, command, task_name, given)
    return command.run(model, command_config(command, {**positional, **given}))


def _refuse_other_tasks_options(args, commands, command, task_name, given):
    """Names a flag given that only other tasks' commands of this name take."""
    owners = {}
    for task, other in commands.items():
        for option in other.options:
            owners.setdefault(option.name, (option.cli_flag, []))[1].append(
                task
            )
    declared = {option.name for option in command.options}
    for name in given:
        if name not in declared:
            flag, tasks = owners[name]
            raise ValueError(
                f"{flag}: an option of `{args.command}` for "
                f"{' and '.join(tasks)} models, received with a "
                f"{task_name} model ({args.model})"
            )


def main(argv=None):
    """Entry point of the `keras-attention-zoo` console script.

    Returns:
        The exit status: 0, or 2 for a mistake in the arguments, the
        files or the logdir, reported on one line of stderr.
    """
    args = _parse(argv)
    # Translations are printed as text; a console that cannot encode a
    # character ("\u202f" on a cp1252 terminal) shows an escape instead
    # of ending the run with a UnicodeEncodeError.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        if args.command == "train":
            _train(args)
        else:
            _run(args)
    except (ValueError, OSError) as error:
        # Bad arguments, unreadable or malformed files (`UnicodeError` and
        # `json.JSONDecodeError` are `ValueError`s) and logdirs holding
        # another run deserve one line, not a trace.
        for line in error_lines(error):
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
