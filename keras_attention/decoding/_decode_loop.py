"""The decoding loop that greedy search, sampling and beam search share.

`decode` runs a step function under `keras.ops.while_loop` and records its
attention; a `DecodingStrategy` chooses the tokens, keeps its own buffers
and, for beam search, reorders the hypotheses.
"""

import keras
from keras import ops

from keras_attention.decoding import _loop_utils


class DecodingStrategy:
    """How the loop of `decode` picks tokens and what it returns.

    A strategy keeps its buffers in a dict of tensors (the "carry") that the
    loop passes back at every step. It implements:

    - `start(batch_size, vocabulary_size, max_length, log_probs, state,
      attention)`: returns `(log_probs, state, attention, carry)`, the first
      step's outputs (which a strategy may tile, e.g. per beam) and its
      buffers.
    - `live_rows(carry)`: boolean `[n]`, the hypotheses not finished before
      this step; the attention of the others is recorded as zeros.
    - `advance(step, log_probs, attention, carry)`: from float32
      log-probabilities `[n, vocab]` and the (masked, float32, or `None`)
      attention, returns `(token_ids, parent_rows, carry)`: the next int32
      tokens `[n]` and `None`, or int32 `[n]` rows that each hypothesis
      continues, by which the loop reorders the step function's state and
      the attention history.
    - `done(carry)`: a boolean scalar, whether decoding may stop early.
    - `results(carry, attention_history)`: the returned dict.
    """

    def start(
        self,
        batch_size,
        vocabulary_size,
        max_length,
        log_probs,
        state,
        attention,
    ):
        raise NotImplementedError

    def live_rows(self, carry):
        raise NotImplementedError

    def advance(self, step, log_probs, attention, carry):
        raise NotImplementedError

    def done(self, carry):
        raise NotImplementedError

    def results(self, carry, attention_history):
        raise NotImplementedError


def decode(
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    pad_id,
    vocabulary_size,
    strategy,
):
    """Runs `step_fn` until `max_length` steps or `strategy.done()`.

    The first step runs outside the loop: it reveals the static shapes that
    size the fixed buffers, so the loop compiles with XLA. The attention of
    every step goes into a float32 history whose steps sit just before the
    last (source) axis (see `_loop_utils.history_buffer`).

    Args:
        step_fn, initial_state, start_ids, end_id, max_length, pad_id,
            vocabulary_size: As in `greedy_search`, the integers already
            validated.
        strategy: A `DecodingStrategy`.

    Returns:
        `strategy.results(...)`.
    """
    batch_size, vocabulary_size, (logits, state, attention) = (
        _loop_utils.run_first_step(
            step_fn, initial_state, start_ids, end_id, pad_id, vocabulary_size
        )
    )
    # The log-softmax runs before a strategy tiles the first step (beam
    # search repeats it per beam): XLA CPU fuses a repeat into the max
    # reduction of a following log-softmax, and LLVM's loop vectorizer then
    # takes time exponential in the vocabulary size on that kernel (minutes
    # at 28 tokens, no end at 31 or 32).
    log_probs, state, attention, strategy_carry = strategy.start(
        batch_size,
        vocabulary_size,
        max_length,
        _loop_utils.log_softmax_float32(logits),
        state,
        attention,
    )
    carry = {"strategy": strategy_carry}
    if attention is not None:
        carry["attention"] = _loop_utils.history_buffer(
            attention, ops.shape(log_probs)[0], max_length
        )

    def advance(step, log_probs, state, attention, carry):
        if attention is not None:
            attention = _loop_utils.mask_rows(
                strategy.live_rows(carry["strategy"]),
                ops.cast(attention, "float32"),
            )
        tokens, parent_rows, strategy_carry = strategy.advance(
            step, log_probs, attention, carry["strategy"]
        )
        updated = {"strategy": strategy_carry}
        if parent_rows is not None:
            state = _reorder(state, parent_rows)
        if attention is not None:
            history = carry["attention"]
            if parent_rows is not None:
                history = _reorder(history, parent_rows)
                attention = _reorder(attention, parent_rows)
            updated["attention"] = _loop_utils.write_history(
                history, step, attention
            )
        return tokens, state, updated

    token_ids, state, carry = advance(0, log_probs, state, attention, carry)

    def cond(step, token_ids, state, carry):
        return ops.logical_and(
            ops.less(step, max_length),
            ops.logical_not(strategy.done(carry["strategy"])),
        )

    def body(step, token_ids, state, carry):
        logits, state, attention = _loop_utils.split_step_outputs(
            step_fn(token_ids, state)
        )
        token_ids, state, carry = advance(
            step,
            _loop_utils.log_softmax_float32(logits),
            state,
            attention,
            carry,
        )
        return step + 1, token_ids, state, carry

    first_loop_step = ops.convert_to_tensor(1, "int32")
    *_, carry = ops.while_loop(
        cond, body, (first_loop_step, token_ids, state, carry)
    )
    return strategy.results(carry["strategy"], carry.get("attention"))


def run(
    make_strategy,
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    pad_id,
    vocabulary_size,
):
    """Validates what every decoder shares, then runs `decode`.

    Args:
        make_strategy: callable `(end_id, pad_id, max_length, start_ids) ->
            DecodingStrategy`, called with the validated ints once the
            shared arguments are checked: it validates the decoder's own
            arguments and builds its strategy.
        step_fn, initial_state, start_ids, end_id, max_length, pad_id,
            vocabulary_size: As in `greedy_search`.

    Returns:
        The dict of the strategy's `results`.
    """
    end_id, pad_id, max_length, vocabulary_size = (
        _loop_utils.check_common_arguments(
            end_id, pad_id, max_length, vocabulary_size
        )
    )
    strategy = make_strategy(
        end_id=end_id, pad_id=pad_id, max_length=max_length, start_ids=start_ids
    )
    return decode(
        step_fn,
        initial_state,
        start_ids,
        end_id,
        max_length,
        pad_id,
        vocabulary_size,
        strategy,
    )


def single_path(choose_tokens, no_repeat_ngram_size):
    """The `make_strategy` of `run` for a `SinglePathStrategy`.

    `no_repeat_ngram_size` is validated when the strategy is made, after
    the shared arguments.
    """

    def make_strategy(end_id, pad_id, max_length, start_ids):
        ngram_size = _loop_utils.check_ngram_size(no_repeat_ngram_size)
        return SinglePathStrategy(choose_tokens, end_id, pad_id, ngram_size)

    return make_strategy


def _reorder(structure, rows):
    return keras.tree.map_structure(
        lambda tensor: ops.take(tensor, rows, axis=0), structure
    )


class SinglePathStrategy(DecodingStrategy):
    """One hypothesis per batch entry, extended by a token chooser.

    Greedy search and sampling; their results are documented in
    `greedy_search`.

    Args:
        choose_tokens: callable `(log_probs, step) -> token_ids` that picks
            the next int32 token `[batch]` from float32 log-probabilities
            `[batch, vocab]` at the (possibly symbolic) int `step`.
        end_id: The validated end token.
        pad_id: The validated padding token.
        no_repeat_ngram_size: The validated n-gram size to block (see
            `_loop_utils.repeated_ngram_mask`); 0 disables blocking.
    """

    def __init__(self, choose_tokens, end_id, pad_id, no_repeat_ngram_size=0):
        self.choose_tokens = choose_tokens
        self.end_id = end_id
        self.pad_id = pad_id
        self.no_repeat_ngram_size = no_repeat_ngram_size

    def start(
        self,
        batch_size,
        vocabulary_size,
        max_length,
        log_probs,
        state,
        attention,
    ):
        self.vocabulary_size = vocabulary_size
        carry = {
            "sequences": ops.full(
                [batch_size, max_length], self.pad_id, "int32"
            ),
            "lengths": ops.zeros([batch_size], "int32"),
            "scores": ops.zeros([batch_size], "float32"),
            "finished": ops.zeros([batch_size], "bool"),
        }
        return log_probs, state, attention, carry

    def live_rows(self, carry):
        return ops.logical_not(carry["finished"])

    def advance(self, step, log_probs, attention, carry):
        live = self.live_rows(carry)
        # The end token is never blocked: it finishes a hypothesis, so it
        # is not in the history of a live one.
        log_probs = _loop_utils.block_repeated_ngrams(
            log_probs,
            carry["sequences"],
            step,
            self.no_repeat_ngram_size,
            self.vocabulary_size,
        )
        tokens = ops.where(
            live, self.choose_tokens(log_probs, step), self.pad_id
        )
        tokens = ops.cast(tokens, "int32")
        token_log_probs = ops.take_along_axis(
            log_probs, ops.expand_dims(tokens, 1), axis=1
        )[:, 0]
        carry = {
            "sequences": _loop_utils.write_step(
                carry["sequences"], step, tokens
            ),
            "lengths": carry["lengths"] + ops.cast(live, "int32"),
            "scores": carry["scores"] + ops.where(live, token_log_probs, 0.0),
            "finished": ops.logical_or(
                carry["finished"], ops.equal(tokens, self.end_id)
            ),
        }
        return tokens, None, carry

    def done(self, carry):
        return ops.all(carry["finished"])

    def results(self, carry, attention_history):
        results = {
            name: carry[name] for name in ("sequences", "lengths", "scores")
        }
        if attention_history is not None:
            results["attention"] = attention_history
        return results
