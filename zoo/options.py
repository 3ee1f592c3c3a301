"""Declared options of the zoo: one declaration for the CLI, API and docs.

An `Option` names a setting of `keras-attention-zoo train TASK` once: its
type, default, help and checks. From the declarations come the command
line (`add_arguments`), the keyword check of the Python API (`resolve`)
and the option list in docstrings (`describe`), so that a new option is
one new line.
"""

import argparse
import dataclasses
import difflib
import json
import numbers
import os
import textwrap
import types

# `Option.const` when the flag takes a value.
_NO_CONST = object()

# What a flag's value looks like in `--help`.
_METAVARS = {int: "N", float: "X", dict: "JSON"}

_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string or path",
    bool: "True or False",
    dict: "a dict",
    list: "a list",
}


def _is_type(value, kind):
    """Whether `value` is an acceptable Python value of the option type."""
    if kind is None:
        return True
    if isinstance(kind, tuple):
        return any(_is_type(value, one) for one in kind)
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        # `True` is an `int` to Python, never an epoch count to a user.
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    if kind is str:
        return isinstance(value, (str, os.PathLike))
    if kind is dict:
        return isinstance(value, dict)
    if kind is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, kind)


def _type_name(kind):
    if isinstance(kind, tuple):
        return " or ".join(_type_name(one) for one in kind)
    return _TYPE_NAMES.get(kind, getattr(kind, "__name__", str(kind)))


def _parse_json_object(text):
    """A JSON object of the command line, or an `ArgumentTypeError`."""
    expected = "expected a JSON object such as '{\"units\": 256}'"
    try:
        value = json.loads(text)
    except ValueError as error:
        reason = getattr(error, "msg", str(error))
        position = getattr(error, "pos", None)
        where = "" if position is None else f" at character {position}"
        raise argparse.ArgumentTypeError(
            f"{expected}, received {text!r} ({reason}{where})"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{expected}, received {text!r} (a JSON "
            f"{_JSON_NAMES.get(type(value), type(value).__name__)})"
        )
    return value


# What `json.loads` returned, in JSON's words.
_JSON_NAMES = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


@dataclasses.dataclass(frozen=True)
class Option:
    """One declared option of a zoo task or of the trainer.

    Args:
        name: The Python keyword, e.g. `"batch_size"`; the command line
            flag is `--batch-size` unless `flag` says otherwise.
        type: The type of its values: `int`, `float`, `str` (also
            accepts paths), `bool` (a flag without a value on the
            command line), `dict` (JSON on the command line), `list`
            (Python only), a tuple of these (the first is the command
            line's), or `None` for any value (with `choices`).
        default: The value when the option is not given (or is `None`).
            `None` usually means that the task picks one; say which in
            `help`.
        help: One or two sentences for `--help` and docstrings.
        choices: Optional allowed values.
        positive: Whether a number must be > 0 (an integer >= 1).
        minimum: Optional inclusive lower bound of a number.
        maximum: Optional inclusive upper bound of a number.
        flag: The command line flag, if not `--` + `name` with hyphens.
        const: For a flag that takes no value, the value it sets (e.g.
            `--no-jit` sets `jit_compile=False`).
        cli: Whether the command line offers the option; `False` for
            Python-only values such as callbacks.

    Example:

    >>> option = Option("epochs", int, 10, "Maximum epochs.", positive=True)
    >>> option.check(3)
    3
    >>> option.check(0)
    Traceback (most recent call last):
    ...
    ValueError: must be >= 1, got 0
    """

    name: str
    type: object = str
    default: object = None
    help: str = ""
    choices: tuple = None
    positive: bool = False
    minimum: float = None
    maximum: float = None
    flag: str = None
    const: object = _NO_CONST
    cli: bool = True

    @property
    def cli_flag(self):
        """The command line flag, e.g. `"--batch-size"`."""
        return self.flag or "--" + self.name.replace("_", "-")

    def check(self, value):
        """Returns `value`, or the default for `None`, if it is valid.

        Raises:
            ValueError: Naming what is wrong with `value`.
        """
        if value is None:
            return self.default
        if self.choices is not None and value not in self.choices:
            choices = ", ".join(repr(choice) for choice in self.choices)
            raise ValueError(f"must be one of {choices}")
        if not _is_type(value, self.type):
            raise ValueError(f"must be {_type_name(self.type)}")
        self._check_bounds(value)
        return value

    def _check_bounds(self, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return
        if self.positive and isinstance(value, numbers.Integral):
            if value < 1:
                raise ValueError(f"must be >= 1, got {value}")
        elif self.positive and not value > 0:
            raise ValueError(f"must be > 0, got {value}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be >= {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be <= {self.maximum}, got {value}")

    def parse(self, text):
        """Converts a command line string (argparse's `type`).

        Leaves `choices` to argparse, whose "invalid choice" message
        lists them.

        Raises:
            argparse.ArgumentTypeError: Saying what was expected and what
                was received.
        """
        kind = self.type[0] if isinstance(self.type, tuple) else self.type
        if kind is dict:
            value = _parse_json_object(text)
        else:
            try:
                value = (kind or str)(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected {_type_name(kind)}, received {text!r}"
                ) from None
        try:
            self._check_bounds(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return value

    def describe(self):
        """The help sentence followed by the default, for docstrings."""
        text = self.help
        if self.default is not None:
            text += f" Defaults to `{self.default!r}`."
        return text.strip()


def merge(*groups):
    """Concatenates option groups; a later option replaces a namesake.

    A replacement keeps the place of the option it replaces, so that a
    task can restate a trainer option (a default of its own, a help that
    says which default it picks) without moving it in `--help`.

    Args:
        *groups: Sequences of `Option`s.

    Returns:
        A tuple of `Option`s with distinct names.
    """
    merged = {}
    for group in groups:
        for option in group:
            merged[option.name] = option
    return tuple(merged.values())


def resolve(options, values, owner, kind="option"):
    """Checks keyword arguments against declared options.

    Args:
        options: The declared `Option`s.
        values: A dict of keyword arguments; `None` means the default.
        owner: What the options belong to, for error messages (e.g.
            `"task 'translation'"`).
        kind: What the messages call an option, e.g. `"model argument"`.

    Returns:
        A `types.SimpleNamespace` with every option: the given value or
        its default.

    Raises:
        ValueError: For an unknown option (with the closest known name)
            or an invalid value, naming the option and the value.

    Example:

    >>> options = [Option("epochs", int, 10, positive=True)]
    >>> resolve(options, {}, "the example").epochs
    10
    >>> resolve(options, {"epoch": 3}, "the example")
    Traceback (most recent call last):
    ...
    ValueError: Unknown option `epoch` of the example (did you mean \
`epochs`?). Known options: epochs.
    """
    names = [option.name for option in options]
    unknown = [name for name in values if name not in names]
    if unknown:
        matches = {
            name: difflib.get_close_matches(name, names, n=1)
            for name in unknown
        }
        hints = [
            f"`{close[0]}`" + ("" if len(unknown) == 1 else f" for `{name}`")
            for name, close in matches.items()
            if close
        ]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ValueError(
            f"Unknown {kind}{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(f'`{name}`' for name in unknown)} of {owner}{hint}. "
            f"Known {kind}s: {', '.join(sorted(names))}."
        )
    resolved = {}
    for option in options:
        value = values.get(option.name)
        try:
            resolved[option.name] = option.check(value)
        except ValueError as error:
            raise ValueError(
                f"Invalid {kind} `{option.name}` of {owner}: {error}. "
                f"Received: {option.name}={value!r}"
            ) from None
    return types.SimpleNamespace(**resolved)


def add_arguments(parser, options):
    """Adds the command line flags of declared options to a parser.

    Args:
        parser: An `argparse.ArgumentParser` or argument group.
        options: The declared `Option`s; those with `cli=False` are
            skipped.
    """
    for option in options:
        if not option.cli:
            continue
        # argparse formats help with %-style placeholders.
        help_text = option.help.replace("%", "%%")
        shows_default = option.const is _NO_CONST and option.type is not bool
        if shows_default and option.default is not None:
            help_text += f" (default: {option.default})"
        arguments = {"dest": option.name, "help": help_text}
        if option.const is not _NO_CONST:
            arguments.update(
                action="store_const", const=option.const, default=None
            )
        elif option.type is bool:
            arguments.update(action="store_true", default=None)
        else:
            arguments.update(
                type=option.parse, choices=option.choices, default=None
            )
            if option.choices is None:
                arguments["metavar"] = _METAVARS.get(
                    option.type, option.name.upper()
                )
        parser.add_argument(option.cli_flag, **arguments)


def from_arguments(args, options):
    """The keyword arguments of parsed command line flags.

    Flags left out are `None`, which `resolve` turns into defaults.

    Args:
        args: The `argparse.Namespace` of a parser set up by
            `add_arguments`.
        options: The same declared `Option`s.

    Returns:
        A dict from option name to value.
    """
    return {
        option.name: getattr(args, option.name)
        for option in options
        if option.cli
    }


def describe(options, indent=8, width=80):
    """Google-style `name: help` lines of options, for docstrings.

    Args:
        options: The declared `Option`s.
        indent: Spaces before each name.
        width: Line width to wrap at.

    Returns:
        A string with one wrapped entry per option.
    """
    lines = []
    for option in options:
        lines.extend(
            textwrap.wrap(
                f"{option.name}: {option.describe()}",
                width=width,
                initial_indent=" " * indent,
                subsequent_indent=" " * (indent + 4),
            )
        )
    return "\n".join(lines)


def document(*groups, heading="Options"):
    """Appends a section listing declared options to a docstring.

    The docstring then lists the options their declarations describe,
    without a copy to keep in step.

    Args:
        *groups: Sequences of `Option`s, merged as by `merge`.
        heading: The section's title.

    Returns:
        A decorator that returns the function with the longer docstring.
    """

    def decorate(function):
        function.__doc__ = (
            f"{(function.__doc__ or '').rstrip()}\n\n    {heading}:\n\n"
            f"{describe(merge(*groups))}\n    "
        )
        return function

    return decorate
