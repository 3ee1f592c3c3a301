"""Decoded sequences that ran to the length limit, for every task's report.

A caption or summary that ends without `<end>` was cut by the decoder's
`max_length`; the share of such outputs is one of the evaluation's
numbers ("at length limit").
"""

import numpy as np


def reached_length_limit(sequences, end_id, pad_id=0):
    """Whether each decoded sequence ran to the limit without `<end>`.

    Args:
        sequences: Token ids `[batch, steps]` as the decoders return them.
        end_id: The id of `<end>`.
        pad_id: The id the decoders pad finished sequences with.

    Returns:
        A boolean NumPy array `[batch]`.

    Example:

    >>> reached_length_limit(np.array([[5, 2, 0], [5, 6, 7]]), end_id=2)
    array([False,  True])
    """
    sequences = np.asarray(sequences)
    return ~np.any((sequences == end_id) | (sequences == pad_id), axis=1)
