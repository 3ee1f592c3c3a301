"""Argument checks shared by the zoo's tasks."""

import numpy as np


def check_positive_int(name, value):
    """`value` as an `int`, if it is an integer >= 1 (not a bool).

    Raises:
        ValueError: Naming the argument and the value received.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < 1
    ):
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )
    return int(value)
