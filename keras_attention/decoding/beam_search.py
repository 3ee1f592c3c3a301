"""Beam search with the GNMT length and coverage penalties."""

import keras
from keras import ops

from keras_attention.decoding import _loop_utils


def length_penalty_factor(lengths, alpha):
    """GNMT length normalization `lp(Y) = ((5 + |Y|) / (5 + 1)) ** alpha`.

    Args:
        lengths: tensor of hypothesis lengths (including the end token).
        alpha: float, the length penalty weight; 0 disables it.

    Returns:
        A float32 tensor shaped like `lengths`; log-probabilities are
        divided by it.

    Example:

    >>> from keras import ops
    >>> factor = length_penalty_factor(ops.convert_to_tensor([1, 7]), 1.0)
    >>> [round(float(value), 4) for value in ops.convert_to_numpy(factor)]
    [1.0, 2.0]

    References:
        - [Wu et al., 2016. Google's Neural Machine Translation System](
          https://arxiv.org/abs/1609.08144), section 7, eq. 14.
    """
    lengths = ops.cast(lengths, "float32")
    return ops.power((5.0 + lengths) / 6.0, alpha)


def coverage_penalty_value(accumulated_attention, beta):
    """GNMT coverage penalty `beta * sum_i log(min(sum_j p_ij, 1))`.

    Source positions whose accumulated attention is exactly zero are
    treated as padding and skipped (a softmax never gives exactly zero to
    an unmasked position), as in the TensorFlow Addons beam search.

    Args:
        accumulated_attention: float tensor `[n, ...]`, the attention
            summed over the target steps so far; the penalty sums over all
            axes but the first (source positions, and heads if any).
        beta: float, the coverage penalty weight.

    Returns:
        A float32 tensor `[n]` (zero or negative), added to the scores.

    Example:

    >>> from keras import ops
    >>> penalty = coverage_penalty_value(
    ...     ops.convert_to_tensor([[0.5, 1.5, 0.0]]), 1.0
    ... )
    >>> round(float(ops.convert_to_numpy(penalty)[0]), 4)
    -0.6931

    References:
        - [Wu et al., 2016. Google's Neural Machine Translation System](
          https://arxiv.org/abs/1609.08144), section 7, eq. 14.
    """
    accumulated_attention = ops.cast(accumulated_attention, "float32")
    coverage = ops.where(
        ops.equal(accumulated_attention, 0.0), 1.0, accumulated_attention
    )
    log_coverage = ops.log(ops.minimum(coverage, 1.0))
    axes = tuple(range(1, len(log_coverage.shape)))
    return beta * ops.sum(log_coverage, axis=axes)


def _validate_arguments(beam_width, num_results, length_penalty, coverage):
    beam_width = _loop_utils.check_integer("beam_width", beam_width, 1)
    num_results = _loop_utils.check_integer(
        "num_results", num_results, minimum=1
    )
    if num_results > beam_width:
        raise ValueError(
            f"`num_results` must be <= `beam_width` ({beam_width}). "
            f"Received: num_results={num_results}"
        )
    length_penalty = _loop_utils.check_non_negative_float(
        "length_penalty", length_penalty
    )
    coverage = _loop_utils.check_non_negative_float(
        "coverage_penalty", coverage
    )
    return beam_width, num_results, length_penalty, coverage


def beam_search(
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    beam_width=4,
    num_results=1,
    length_penalty=0.0,
    coverage_penalty=0.0,
    pad_id=0,
    vocabulary_size=None,
):
    """Decodes with beam search, ranked by the GNMT penalized score.

    Each batch entry keeps `beam_width` hypotheses. At every step each live
    hypothesis is extended by every token, each finished one only by
    `pad_id` at zero cost (so it keeps its score and its final length),
    and the `beam_width` best candidates by score survive, with

        s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)
        lp(Y) = ((5 + |Y|) / (5 + 1)) ** length_penalty
        cp(X; Y) = coverage_penalty * sum_i log(min(sum_j p_ij, 1))

    where `|Y|` counts the generated tokens including the end token and
    `p_ij` is the attention of target step `j` on source position `i`
    (steps after the end token do not count; source positions that never
    get attention are taken as padding and skipped, see
    `coverage_penalty_value`). Scores are computed in float32 whatever the
    dtype of the logits. The same score ranks the
    returned hypotheses; after `max_length` steps unfinished hypotheses are
    ranked alongside the finished ones. At the first step only beam 0 is
    live, so no duplicate hypotheses are returned. The step function's
    state is tiled to `batch * beam_width` and reordered by the beams'
    parents with `keras.ops.take` at every step, as are the token and
    attention histories.

    The decoder runs under `keras.ops.while_loop` with fixed-shape
    buffers, so it compiles with XLA (`jax.jit`,
    `tf.function(jit_compile=True)`); it stops early once every hypothesis
    is finished.

    Args:
        step_fn: callable `(token_ids, state) -> (logits, state)` or
            `(token_ids, state) -> (logits, state, attention)`.
            `token_ids` is int32 `[n]` (the previous token of each
            hypothesis), `state` a nested structure of tensors with leading
            dimension `n`, `logits` unnormalized `[n, vocab]` and
            `attention` an optional fixed-shape tensor per step, e.g.
            `[n, source_length]` or `[n, heads, source_length]`. `n` is
            `batch` at the first call and `batch * beam_width` afterwards,
            hypotheses of one batch entry being contiguous.
        initial_state: nested structure of tensors with leading dimension
            `batch`, passed to the first call of `step_fn`.
        start_ids: integer tensor `[batch]`, the first input token of each
            sequence.
        end_id: int in `[0, vocab)`, the token id that finishes a
            hypothesis.
        max_length: int >= 1, the maximum number of generated tokens.
        beam_width: int >= 1, the number of hypotheses kept per batch
            entry. 1 is greedy search.
        num_results: int in `[1, beam_width]`, the number of best
            hypotheses returned per batch entry.
        length_penalty: float >= 0, the GNMT `alpha`; 0 ranks by the raw
            log-probability, larger values favor longer hypotheses.
        coverage_penalty: float >= 0, the GNMT `beta`; requires `step_fn`
            to return attention (summed over all its non-batch axes, e.g.
            source positions and heads).
        pad_id: int in `[0, vocab)`, the token id written after the end
            token.
        vocabulary_size: optional int; when given it must equal the last
            dimension of the logits. Inferred from the logits otherwise.

    Returns:
        A dict, best hypothesis first along axis 1, with
        - `"sequences"`: int32 `[batch, num_results, max_length]`, the
          generated tokens padded with `pad_id`.
        - `"scores"`: float32 `[batch, num_results]`, the penalized scores
          `s(Y, X)` used for ranking.
        - `"log_probs"`: float32 `[batch, num_results]`, the summed
          log-probabilities `log P(Y | X)`.
        - `"lengths"`: int32 `[batch, num_results]`, including the end
          token.
        - `"attention"` (only when `step_fn` returns attention): float32
          `[batch, num_results, max_length, ...]`, the attention of the
          returned hypotheses, zero after the end token.
        A result whose score is `-inf` is not a real hypothesis (there
        were fewer distinct hypotheses than `num_results`).

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> # Bigram model over {0: pad/start, 1: end, 2, 3}. Greedy search
    >>> # takes 3 (0.58) then 2 (0.40) then the end (0.97): p = 0.225,
    >>> # but 2 (0.40) then the end (0.97) is more probable: p = 0.388.
    >>> table = ops.convert_to_tensor(
    ...     np.log([
    ...         [0.01, 0.01, 0.40, 0.58],
    ...         [0.25, 0.25, 0.25, 0.25],
    ...         [0.01, 0.97, 0.01, 0.01],
    ...         [0.01, 0.30, 0.40, 0.29],
    ...     ]),
    ...     "float32",
    ... )
    >>> def step_fn(token_ids, state):
    ...     return ops.take(table, token_ids, axis=0), state
    >>> outputs = beam_search(
    ...     step_fn,
    ...     initial_state=ops.zeros([1, 1]),
    ...     start_ids=ops.zeros([1], "int32"),
    ...     end_id=1,
    ...     max_length=4,
    ...     beam_width=2,
    ... )
    >>> ops.convert_to_numpy(outputs["sequences"]).tolist()
    [[[2, 1, 0, 0]]]
    >>> round(float(ops.convert_to_numpy(outputs["log_probs"])[0, 0]), 3)
    -0.947

    References:
        - [Wu et al., 2016. Google's Neural Machine Translation System](
          https://arxiv.org/abs/1609.08144), section 7, eq. 14.
    """
    end_id, pad_id, max_length, vocabulary_size = (
        _loop_utils.check_common_arguments(
            end_id, pad_id, max_length, vocabulary_size
        )
    )
    beam_width, num_results, length_penalty, coverage_penalty = (
        _validate_arguments(
            beam_width, num_results, length_penalty, coverage_penalty
        )
    )
    # All beams of a batch entry share the first step, so it runs on the
    # untiled batch and its outputs are tiled.
    batch_size, vocabulary_size, (logits, state, attention) = (
        _loop_utils.run_first_step(
            step_fn, initial_state, start_ids, end_id, pad_id, vocabulary_size
        )
    )
    if coverage_penalty > 0.0 and attention is None:
        raise ValueError(
            "`coverage_penalty` > 0 requires `step_fn` to return "
            "`(logits, state, attention)`. Received: coverage_penalty="
            f"{coverage_penalty} and a `step_fn` that returns no attention"
        )

    def tile(tensor):
        return ops.repeat(tensor, beam_width, axis=0)

    logits = tile(logits)
    state = keras.tree.map_structure(tile, state)
    if attention is not None:
        attention = tile(attention)

    num_hypotheses = batch_size * beam_width
    only_first_beam_live = ops.where(
        ops.equal(ops.arange(beam_width), 0), 0.0, float("-inf")
    )
    beams = {
        "log_probs": ops.tile(
            ops.expand_dims(only_first_beam_live, 0), [batch_size, 1]
        ),
        "scores": ops.zeros([batch_size, beam_width], "float32"),
        "finished": ops.zeros([batch_size, beam_width], "bool"),
        "lengths": ops.zeros([batch_size, beam_width], "int32"),
        "sequences": ops.full([num_hypotheses, max_length], pad_id, "int32"),
    }
    if attention is not None:
        beams["attention"] = _loop_utils.history_buffer(
            attention, num_hypotheses, max_length
        )
    if coverage_penalty > 0.0:
        beams["coverage"] = ops.zeros(
            [num_hypotheses] + list(attention.shape[1:]), "float32"
        )

    pad_only = ops.where(
        ops.equal(ops.arange(vocabulary_size), pad_id), 0.0, float("-inf")
    )
    beam_offsets = ops.expand_dims(
        ops.arange(batch_size, dtype="int32") * beam_width, 1
    )

    def advance(step, logits, attention, beams):
        """Extends every hypothesis and keeps the `beam_width` best."""
        step_log_probs = ops.reshape(
            _loop_utils.log_softmax_float32(logits),
            [batch_size, beam_width, vocabulary_size],
        )
        finished = beams["finished"]
        live = ops.logical_not(finished)
        candidate_log_probs = ops.where(
            ops.expand_dims(finished, 2), pad_only, step_log_probs
        )
        total_log_probs = (
            ops.expand_dims(beams["log_probs"], 2) + candidate_log_probs
        )
        lengths = beams["lengths"] + ops.cast(live, "int32")
        penalty = length_penalty_factor(lengths, length_penalty)
        scores = total_log_probs / ops.expand_dims(penalty, 2)
        flat_live = ops.reshape(live, [num_hypotheses])
        if attention is not None:
            attention = _loop_utils.mask_rows(
                flat_live, ops.cast(attention, "float32")
            )
        if "coverage" in beams:
            coverage = beams["coverage"] + attention
            coverage_scores = coverage_penalty_value(coverage, coverage_penalty)
            scores = scores + ops.reshape(
                coverage_scores, [batch_size, beam_width, 1]
            )

        flat_scores = ops.reshape(
            scores, [batch_size, beam_width * vocabulary_size]
        )
        top_scores, top_indices = ops.top_k(flat_scores, beam_width)
        top_indices = ops.cast(top_indices, "int32")
        parents = top_indices // vocabulary_size
        tokens = top_indices % vocabulary_size
        parent_rows = ops.reshape(parents + beam_offsets, [num_hypotheses])

        parent_finished = ops.take_along_axis(finished, parents, axis=1)
        # Only matters for -inf candidates chosen when fewer than
        # `beam_width` finite ones exist: finished stays padded.
        tokens = ops.where(parent_finished, pad_id, tokens)
        flat_tokens = ops.reshape(tokens, [num_hypotheses])
        updated = {
            "log_probs": ops.take_along_axis(
                ops.reshape(
                    total_log_probs,
                    [batch_size, beam_width * vocabulary_size],
                ),
                top_indices,
                axis=1,
            ),
            "scores": top_scores,
            "finished": ops.logical_or(
                parent_finished, ops.equal(tokens, end_id)
            ),
            "lengths": ops.take_along_axis(lengths, parents, axis=1),
            "sequences": _loop_utils.write_step(
                ops.take(beams["sequences"], parent_rows, axis=0),
                step,
                flat_tokens,
            ),
        }
        if "attention" in beams:
            updated["attention"] = _loop_utils.write_step(
                ops.take(beams["attention"], parent_rows, axis=0),
                step,
                ops.take(attention, parent_rows, axis=0),
            )
        if "coverage" in beams:
            updated["coverage"] = ops.take(coverage, parent_rows, axis=0)
        return flat_tokens, parent_rows, updated

    def reorder(state, parent_rows):
        return keras.tree.map_structure(
            lambda tensor: ops.take(tensor, parent_rows, axis=0), state
        )

    token_ids, parent_rows, beams = advance(0, logits, attention, beams)
    state = reorder(state, parent_rows)

    def cond(step, token_ids, state, beams):
        # Beams at -inf (fewer distinct hypotheses than beams) never end.
        done = ops.logical_or(beams["finished"], ops.isinf(beams["log_probs"]))
        return ops.logical_and(
            ops.less(step, max_length), ops.logical_not(ops.all(done))
        )

    def body(step, token_ids, state, beams):
        logits, state, attention = _loop_utils.split_step_outputs(
            step_fn(token_ids, state)
        )
        token_ids, parent_rows, beams = advance(step, logits, attention, beams)
        return step + 1, token_ids, reorder(state, parent_rows), beams

    first_loop_step = ops.convert_to_tensor(1, "int32")
    *_, beams = ops.while_loop(
        cond, body, (first_loop_step, token_ids, state, beams)
    )

    def best(tensor):
        tensor = ops.reshape(
            tensor, [batch_size, beam_width] + list(tensor.shape[1:])
        )
        return tensor[:, :num_results]

    outputs = {
        "sequences": best(beams["sequences"]),
        "scores": beams["scores"][:, :num_results],
        "log_probs": beams["log_probs"][:, :num_results],
        "lengths": beams["lengths"][:, :num_results],
    }
    if "attention" in beams:
        outputs["attention"] = best(beams["attention"])
    return outputs
