"""One best output per input, greedy or by beam search, for every task."""

import keras_attention


def best_hypothesis(
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    beam_width=1,
    length_penalty=0.0,
    **options,
):
    """Decodes greedily (`beam_width=1`) or keeps beam search's best output.

    Args:
        step_fn, initial_state, start_ids, end_id, max_length: as for
            `keras_attention.decoding.greedy_search` and `beam_search`.
        beam_width: 1 for greedy decoding, more for beam search.
        length_penalty: GNMT alpha of beam search (unused by greedy).
        **options: Further arguments both decoders take, e.g. `pad_id`,
            `no_repeat_ngram_size`.

    Returns:
        The dict of `keras_attention.decoding` for one output per input:
        `"sequences"` `[batch, max_length]`, `"lengths"`, `"scores"` and,
        where the steps return it, `"attention"` `[batch, max_length, ...]`.

    Example:

    ```python
    results = best_hypothesis(step_fn, state, starts, END, 20, beam_width=4)
    ```
    """
    if beam_width == 1:
        return keras_attention.decoding.greedy_search(
            step_fn, initial_state, start_ids, end_id, max_length, **options
        )
    results = keras_attention.decoding.beam_search(
        step_fn,
        initial_state,
        start_ids,
        end_id,
        max_length,
        beam_width=beam_width,
        length_penalty=length_penalty,
        **options,
    )
    return {name: tensor[:, 0] for name, tensor in results.items()}
