"""Text given on the command line or stdin, decoded as UTF-8 or refused.

Shared by the commands that read texts (`translate`, `summarize`): a
byte that is not UTF-8 is refused with its value and position, whatever
the locale says.
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
