"""The length limit of decoded outputs, one meaning for every task.

`max_length` is the most tokens of an output, the end token not counted:
a caption, summary or translation never holds more than `max_length`
tokens. Captions and summaries are trained with up to `max_length` tokens
followed by `<end>`, so their decoders run one step more than the limit
(`decode_within_limit`): a full-length output may still end, and one that
has not ended by then is cut to `max_length` tokens. (Translation decodes
`max_length` steps with `[END]` among them, so its outputs never exceed
the limit either.)

An output that ends without `<end>` was cut by the limit; the share of
such outputs is one of the evaluation's numbers ("at length limit").
"""

import numpy as np
from keras import ops


def decode_within_limit(decode, max_length, end_id, pad_id):
    """Decodes at most `max_length` tokens, the end token not counted.

    Runs `decode(max_length + 1)`, so that an output of `max_length`
    tokens can end with `end_id`, then cuts the outputs that had not
    ended by then: their last token becomes `pad_id`, its attention zero
    and their length `max_length`. The last position of `"sequences"` so
    holds `end_id` or `pad_id` only. Runs in the backend's ops, inside a
    compiled or exported decoder too.

    Args:
        decode: `decode(steps)` runs a decoder of `keras_attention.decoding`
            for `steps` steps and returns its dict for one hypothesis per
            input: `"sequences"` `[batch, steps]`, `"lengths"` `[batch]`,
            optionally `"attention"` `[batch, steps, ...]` and any other
            entries (such as `"scores"`, returned as they are: a cut
            output's score still counts its cut token).
        max_length: The most tokens of an output, an int >= 1.
        end_id: The id of the end token.
        pad_id: The id the decoder pads finished sequences with.

    Returns:
        The dict of `decode`, its `"sequences"` and `"attention"` still
        `max_length + 1` steps long.

    Example:

    ```python
    results = decode_within_limit(
        lambda steps: greedy_search(step_fn, state, starts, END, steps),
        max_length=20,
        end_id=END,
        pad_id=0,
    )
    ```
    """
    results = dict(decode(max_length + 1))
    sequences = results["sequences"]
    last = sequences[:, max_length]
    # Outputs that ended earlier hold `pad_id` there: "cutting" them
    # changes nothing.
    ended = ops.equal(last, end_id)
    results["sequences"] = ops.concatenate(
        [
            sequences[:, :max_length],
            ops.where(ended, last, ops.full_like(last, pad_id))[:, None],
        ],
        axis=1,
    )
    results["lengths"] = ops.where(
        ended, results["lengths"], ops.minimum(results["lengths"], max_length)
    )
    if "attention" in results:
        attention = results["attention"]
        last_attention = attention[:, max_length:]
        kept = ended
        while len(kept.shape) < len(last_attention.shape):
            kept = ops.expand_dims(kept, -1)
        results["attention"] = ops.concatenate(
            [
                attention[:, :max_length],
                ops.where(kept, last_attention, ops.zeros_like(last_attention)),
            ],
            axis=1,
        )
    return results


def reached_length_limit(sequences, end_id, pad_id=0):
    """Whether each decoded output was cut by the length limit.

    An output was cut when it holds no `end_id` (and is not blank, all
    `pad_id`): `decode_within_limit` pads the cut ones' last position, a
    decoder of exactly `max_length` steps leaves them full.

    Args:
        sequences: Token ids `[batch, steps]` as the decoders return them.
        end_id: The id of `<end>`.
        pad_id: The id the decoders pad finished (or blank) outputs with.

    Returns:
        A boolean NumPy array `[batch]`.

    Example:

    >>> reached_length_limit(np.array([[5, 2, 0], [5, 6, 0]]), end_id=2)
    array([False,  True])
    """
    sequences = np.asarray(sequences)
    if sequences.ndim != 2 or sequences.shape[1] == 0:
        return np.zeros(len(sequences), bool)
    blank = sequences[:, 0] == pad_id
    return ~np.any(sequences == end_id, axis=1) & ~blank
