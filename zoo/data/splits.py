"""Splits of a data set: their names, carving them, the example limit.

Shared by the loaders of every task (`zoo.data.translation`, `captions`
and `summaries`).
"""

import random

SPLIT_NAMES = ("train", "valid", "test")


def check_max_examples(max_examples):
    """Refuses a `max_examples` that is not `None` or an integer >= 1."""
    if max_examples is not None and (
        isinstance(max_examples, bool)
        or not isinstance(max_examples, int)
        or max_examples < 1
    ):
        raise ValueError(
            "`max_examples` must be None or an integer >= 1. "
            f"Received: max_examples={max_examples!r}"
        )


def split_pairs(pairs, *, valid_fraction=0.1, test_fraction=0.1, seed=0):
    """Splits pairs into train/valid/test so no source crosses splits.

    The distinct source sentences are shuffled with `seed` and divided by
    the fractions; every pair goes to the split of its source, so the
    fractions are fractions of distinct sources (close to fractions of
    pairs). Within a split, pairs keep their input order.

    Args:
        pairs: a list of `(source, target)` tuples.
        valid_fraction: fraction of distinct sources for validation.
        test_fraction: fraction of distinct sources for testing.
        seed: integer seed of the shuffle.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`.

    Example:

    >>> pairs = [(f"s{i}", f"t{i}") for i in range(10)]
    >>> splits = split_pairs(pairs, valid_fraction=0.2, test_fraction=0.1)
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [7, 2, 1]
    """
    for name, fraction in (
        ("valid_fraction", valid_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(
                f"`{name}` must be in [0, 1). Received: {name}={fraction}"
            )
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            "`valid_fraction + test_fraction` must be < 1. Received: "
            f"valid_fraction={valid_fraction}, test_fraction={test_fraction}"
        )
    unique_sources = list(dict.fromkeys(source for source, _ in pairs))
    random.Random(seed).shuffle(unique_sources)
    num_valid = round(valid_fraction * len(unique_sources))
    num_test = round(test_fraction * len(unique_sources))
    split_of_source = {}
    for index, source in enumerate(unique_sources):
        if index < num_valid:
            split_of_source[source] = "valid"
        elif index < num_valid + num_test:
            split_of_source[source] = "test"
        else:
            split_of_source[source] = "train"
    splits = {name: [] for name in SPLIT_NAMES}
    for pair in pairs:
        splits[split_of_source[pair[0]]].append(pair)
    return splits
