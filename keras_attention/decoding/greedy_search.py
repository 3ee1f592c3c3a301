"""Greedy decoding over a user step function."""

from keras import ops

from keras_attention.decoding import _decode_loop


def greedy_search(
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    pad_id=0,
    vocabulary_size=None,
    no_repeat_ngram_size=0,
):
    """Decodes by picking the most probable token at every step.

    The decoder runs a static number of steps under `keras.ops.while_loop`
    with fixed-shape buffers, so it compiles with XLA (`jax.jit`,
    `tf.function(jit_compile=True)`); it stops early once every sequence
    has emitted `end_id`. A finished sequence stays finished: its later
    positions hold `pad_id` and add nothing to its score.

    With `no_repeat_ngram_size=n > 0` no n-gram occurs twice in a sequence
    (Paulus et al., 2017): after generated tokens `y_1..y_k` (the start
    token is not one of them), a token `w` for which `(y_{k-n+2}, ...,
    y_k, w)` is an n-gram of `y_1..y_k` gets the log-probability `-inf`
    before the choice. The end token is never blocked (it is in no live
    sequence), so a sequence whose other tokens are all blocked ends. The
    scores stay the model's log-probabilities, not renormalized over the
    allowed tokens.

    Args:
        step_fn: callable `(token_ids, state) -> (logits, state)` or
            `(token_ids, state) -> (logits, state, attention)`.
            `token_ids` is int32 `[batch]` (the previous token), `state` a
            nested structure of tensors whose leading dimension is the
            batch, `logits` unnormalized `[batch, vocab]` scores of the
            next token and `attention` an optional fixed-shape tensor per
            step, e.g. `[batch, source_length]` or, heads first,
            `[batch, heads, source_length]`. The state must keep its
            structure and shapes from step to step. For finished sequences
            the decoder still calls `step_fn` (with `pad_id`) and ignores
            the outputs.
        initial_state: nested structure of tensors with leading dimension
            `batch`, passed to the first call of `step_fn`.
        start_ids: integer tensor `[batch]`, the first input token of each
            sequence (e.g. the start-of-sequence id).
        end_id: int in `[0, vocab)`, the token id that finishes a
            sequence.
        max_length: int >= 1, the maximum number of generated tokens.
        pad_id: int in `[0, vocab)`, the token id written after the end
            token.
        vocabulary_size: optional int; when given it must equal the last
            dimension of the logits. Inferred from the logits otherwise.
        no_repeat_ngram_size: int >= 0, the size `n` of the n-grams that
            may not repeat: 1 forbids any repeated token, 3 is the trigram
            blocking of Paulus et al. 0 (the default) disables blocking.

    Returns:
        A dict with
        - `"sequences"`: int32 `[batch, max_length]`, the generated tokens
          (not including the start token), padded with `pad_id`.
        - `"lengths"`: int32 `[batch]`, the number of generated tokens,
          including the end token.
        - `"scores"`: float32 `[batch]`, the sum of the log-probabilities
          of the generated tokens.
        - `"attention"` (only when `step_fn` returns attention): float32,
          the attention of every step, zero after the end token, with the
          steps just before the last (source) axis: `[batch, max_length,
          source_length]`, or `[batch, heads, max_length, source_length]`
          for per-step `[batch, heads, source_length]` (the layout of the
          attention layers' weights).

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> # Bigram model: the next-token logits depend on the previous token.
    >>> table = ops.convert_to_tensor(
    ...     np.log([[0.1, 0.6, 0.3], [0.2, 0.1, 0.7], [0.4, 0.3, 0.3]]),
    ...     "float32",
    ... )
    >>> def step_fn(token_ids, state):
    ...     return ops.take(table, token_ids, axis=0), state
    >>> outputs = greedy_search(
    ...     step_fn,
    ...     initial_state=ops.zeros([1, 1]),
    ...     start_ids=ops.zeros([1], "int32"),
    ...     end_id=2,
    ...     max_length=4,
    ... )
    >>> ops.convert_to_numpy(outputs["sequences"]).tolist()
    [[1, 2, 0, 0]]
    >>> ops.convert_to_numpy(outputs["lengths"]).tolist()
    [2]

    References:
        - [Paulus et al., 2017. A Deep Reinforced Model for Abstractive
          Summarization](https://arxiv.org/abs/1705.04304), section 2.5
          (`no_repeat_ngram_size`).
    """
    strategy = _decode_loop.single_path(_most_probable, no_repeat_ngram_size)
    arguments = (step_fn, initial_state, start_ids, end_id, max_length)
    return _decode_loop.run(strategy, *arguments, pad_id, vocabulary_size)


def _most_probable(log_probs, step):
    return ops.cast(ops.argmax(log_probs, axis=-1), "int32")
