"""Text entering the zoo: UTF-8 or refused, one output per input.

The text encoding policy of every task, in training, inference and
export:

- **Text is UTF-8, and a byte that is not is refused where it enters,
  never replaced or guessed.** A command's argument, a line of stdin or
  a file it reads is refused with one error naming it, the byte and its
  position (`checked_utf8`, `stdin_lines`, `zoo.files.read_lines`); a
  data file likewise names the file and line. The Python API raises a
  `ValueError` for `bytes` that are not UTF-8 (`checked_text`). The one
  exception is documented where it applies: the BBC News Summary files,
  written in Windows-1252, are read as UTF-8, else Windows-1252.
- **A SavedModel answers each element on its own**: it cannot print an
  error for one text of a batch without failing the others, so a text
  that is not valid UTF-8 is served as an empty text
  (`zoo.saved_model.served_texts`).
- **Nothing in, nothing invented**: an empty or blank text gives an empty
  output (`""`, no token) in the commands, the Python API and the
  SavedModels, and a command prints one line per input, an empty line for
  a blank one, so that its output lines up with its input
  (`command_texts`).
"""

import sys


def checked_utf8(text, name):
    """`text`, if it holds no byte that was not UTF-8 (`surrogateescape`).

    Args:
        text: A command line argument (Python decodes undecodable bytes
            as lone surrogates).
        name: What the message calls it, e.g. `"TEXT 2"`.

    Raises:
        ValueError: Naming the argument, the byte and its position.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raw = text.encode("utf-8", "surrogateescape")
        raise ValueError(
            f"{name}: expected UTF-8 text, received the byte "
            f"{raw[error.start]:#04x} at character {error.start}"
        ) from None
    return text


def checked_text(text, name):
    """A text given to the Python API, as `str`: UTF-8 `bytes` decoded.

    Args:
        text: A `str`, or `bytes` holding UTF-8.
        name: What the message calls it, e.g. `"texts[2]"`.

    Returns:
        The text as `str`.

    Raises:
        ValueError: For another type, or bytes that are not UTF-8 (naming
            the byte and its position).

    Example:

    >>> checked_text(b"caf\\xc3\\xa9", "texts[0]")
    'café'
    """
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"`{name}` must be UTF-8 text. Received: the byte "
                f"{text[error.start]:#04x} at byte {error.start}"
            ) from None
    if not isinstance(text, str):
        raise ValueError(
            f"`{name}` must be a string. Received: {type(text).__name__} "
            f"{text!r:.80}"
        )
    return checked_utf8(text, f"`{name}`")


def stdin_lines():
    """The lines of stdin, decoded as UTF-8 whatever the locale says."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return [line.rstrip("\r\n") for line in sys.stdin]
    lines = []
    for number, line in enumerate(stream, 1):
        try:
            lines.append(line.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as error:
            raise ValueError(
                f"stdin line {number}: expected UTF-8 text, received the "
                f"byte {line[error.start]:#04x} at byte {error.start}"
            ) from None
    return lines


def command_texts(arguments, name, read_argument=checked_utf8):
    """The inputs of a command: its arguments, else every line of stdin.

    One text per argument or line, blank ones kept (their output is an
    empty line), so that the command's output lines up with its input.

    Args:
        arguments: The command line's texts; empty to read stdin.
        name: What messages call an argument, e.g. `"TEXT"`: the second
            is `"TEXT 2"`.
        read_argument: Turns an argument and its name into the text
            (default: `checked_utf8`; `summarize` reads files too).

    Returns:
        A list of strings.

    Raises:
        ValueError: For an argument or line that is not UTF-8 (or that
            `read_argument` refuses).
    """
    if not arguments:
        return stdin_lines()
    return [
        read_argument(argument, f"{name} {number}")
        for number, argument in enumerate(arguments, 1)
    ]
