"""Argument checks shared by the zoo's tasks."""

import math
import numbers

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


def check_non_negative_float(name, value):
    """`value` as a `float`, if it is a finite number >= 0 (not a bool).

    Raises:
        ValueError: Naming the argument and the value received.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"`{name}` must be a number >= 0. Received: {name}={value!r}"
        )
    return float(value)
