"""The copy mechanism of pointer-generator networks (See et al., 2017).

A pointer-generator decoder either generates a word from its fixed
vocabulary or copies a word of the source document by pointing at it with
its attention. `PointerGenerator` computes the generation probability
`p_gen` (equation 8); `extended_vocabulary_distribution` mixes the
vocabulary distribution and the attention into the final distribution
(equation 9), and `extended_vocabulary_probability` gives the probability
of given target words under it, for the training loss.

Extended vocabulary convention: the fixed vocabulary has the ids `[0, V)`.
The out-of-vocabulary words of a source document get the ids `V + k`, `k`
numbering the distinct OOV words of that document in order of first
occurrence (`k < T_src`), so the extended vocabulary of a document has at
most `V + T_src` ids and a batch is scored over `extended_size` ids, the
largest of its documents. `source_ids` is an integer tensor
`[batch, T_src]` of these extended ids; a padding position may hold any id
as long as its attention weight is 0 (ids outside `[0, extended_size)`
contribute nothing). Target ids use the same ids: an OOV target word that
is in the source gets its extended id, one that is not gets the id of the
unknown word.

Example of the convention, with `V = 4` (`0: <unk>`, `1: the`, `2: cat`,
`3: sat`): the source `"the zebra sat near zebra"` has the ids
`[1, 4, 3, 5, 4]` ("zebra" is OOV 0, "near" is OOV 1), and its extended
vocabulary has `V + 2 = 6` ids.
"""

import operator

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils

# Fixed per kernel, so a seeded initializer gives each its own seed.
_KERNEL_INDEX = {"context_kernel": 0, "state_kernel": 1, "input_kernel": 2}
_INPUT_NAMES = ("context", "decoder_state", "decoder_input")


@keras.saving.register_keras_serializable(package="keras_attention")
class PointerGenerator(keras.layers.Layer):
    """The generation probability `p_gen` of a pointer-generator network.

    Equation 8 of See et al. (2017):

    `p_gen = sigmoid(w_h*^T h*_t + w_s^T s_t + w_x^T x_t + b_ptr)`

    where `h*_t` is the attention context of decoder step `t`, `s_t` the
    decoder state and `x_t` the decoder input (the embedded previous word).
    `p_gen` in `(0, 1)` is the probability of generating from the
    vocabulary rather than copying from the source; pass it, with the
    vocabulary distribution and the attention, to
    `extended_vocabulary_distribution` (equation 9). For an LSTM decoder,
    See et al.'s code takes for `s_t` the concatenated cell and hidden
    states; concatenate them before the call to do the same.

    The three weight vectors `w_h*`, `w_s`, `w_x` are separate weights,
    each created from its own clone of `kernel_initializer`, and `b_ptr` is
    a scalar. The weights are kept in float32 and the gate is computed in
    float32 under mixed precision (a sum of three dot products, cheap), so
    `p_gen` is a float32 tensor whatever the dtype policy.

    Args:
        kernel_initializer: Initializer of `w_h*`, `w_s` and `w_x`, each
            created from its own clone so that they start different.
        bias_initializer: Initializer of the scalar bias `b_ptr`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        context: Attention contexts `h*_t`, `[batch, dim_h]` (one decoder
            step) or `[batch, T, dim_h]`.
        decoder_state: Decoder states `s_t` of the same rank and leading
            dimensions, `[..., dim_s]`.
        decoder_input: Decoder inputs `x_t` of the same rank and leading
            dimensions, `[..., dim_x]`.

    Returns:
        `p_gen`, a float32 tensor `[batch, 1]` or `[batch, T, 1]`.

    Example:

    >>> context = keras.random.normal((2, 5, 16))
    >>> state = keras.random.normal((2, 5, 32))
    >>> previous = keras.random.normal((2, 5, 8))
    >>> p_gen = keras_attention.layers.PointerGenerator()(
    ...     context, state, previous
    ... )
    >>> p_gen.shape
    (2, 5, 1)

    References:
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), "Get To The
          Point: Summarization with Pointer-Generator Networks", section
          2.2, equation 8.
        - [Vinyals et al., 2015](https://arxiv.org/abs/1506.03134),
          "Pointer Networks" (attention as a pointer to input positions).
        - [Gu et al., 2016](https://arxiv.org/abs/1603.06393), "Incorporating
          Copying Mechanism in Sequence-to-Sequence Learning" (CopyNet).
    """

    def __init__(
        self,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _check_inputs(self, *shapes):
        shapes = [tuple(shape) for shape in shapes]
        first = shapes[0]
        if len(first) not in (2, 3):
            raise ValueError(
                "`context` must have rank 2 ([batch, dim], one decoder step) "
                f"or 3 ([batch, T, dim]). Received: context.shape={first}"
            )
        for name, shape in zip(_INPUT_NAMES[1:], shapes[1:], strict=True):
            if len(shape) != len(first) or not _dims_agree(
                shape[:-1], first[:-1]
            ):
                raise ValueError(
                    f"`{name}` must have the rank and leading dimensions of "
                    f"`context`. Received: {name}.shape={shape}, "
                    f"context.shape={first}"
                )

    def build(self, context_shape, decoder_state_shape, decoder_input_shape):
        shapes = (context_shape, decoder_state_shape, decoder_input_shape)
        self._check_inputs(*shapes)
        for input_name, shape, weight_name in zip(
            _INPUT_NAMES, shapes, _KERNEL_INDEX, strict=True
        ):
            if shape[-1] is None:
                raise ValueError(
                    f"The last dimension of `{input_name}` must be known. "
                    f"Received: {input_name}.shape={tuple(shape)}"
                )
            # Not autocast: the gate is computed from float32 weights (see
            # `call`), so mixed precision does not round them to 16 bits.
            kernel = self.add_weight(
                shape=(shape[-1], 1),
                initializer=utils.clone_initializer(
                    self.kernel_initializer, _KERNEL_INDEX[weight_name]
                ),
                name=weight_name,
                autocast=False,
            )
            setattr(self, weight_name, kernel)
        self.bias = self.add_weight(
            shape=(1,),
            initializer=self.bias_initializer,
            name="bias",
            autocast=False,
        )
        self.built = True

    def call(self, context, decoder_state, decoder_input):
        inputs = (context, decoder_state, decoder_input)
        self._check_inputs(*(x.shape for x in inputs))
        kernels = (self.context_kernel, self.state_kernel, self.input_kernel)
        # float32 throughout: the logit is a sum of three dot products, and
        # a bfloat16 `p_gen` near 0 or 1 would lose the copy probability.
        logits = ops.cast(self.bias, "float32")
        for x, kernel in zip(inputs, kernels, strict=True):
            logits = logits + ops.matmul(
                ops.cast(x, "float32"), ops.cast(kernel, "float32")
            )
        return ops.sigmoid(logits)

    def compute_output_shape(
        self, context_shape, decoder_state_shape, decoder_input_shape
    ):
        return tuple(context_shape[:-1]) + (1,)

    def compute_output_spec(self, context, decoder_state, decoder_input):
        # `p_gen` is float32 whatever the compute dtype.
        return keras.KerasTensor(
            tuple(context.shape[:-1]) + (1,), dtype="float32"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config


def extended_vocabulary_distribution(
    vocabulary_probabilities, attention, source_ids, p_gen, extended_size
):
    """The final distribution over the extended vocabulary (equation 9).

    `P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: w_i = w} a_i`

    with `P_vocab(w) = 0` for the ids `w >= V` of out-of-vocabulary source
    words, and the attention weight `a_i` of every source position `i`
    holding `w` (a word that occurs twice in the source gets both weights).
    See the module docstring for the extended vocabulary convention. When
    the vocabulary probabilities and the attention each sum to one, so does
    the result.

    The attention is added into the ids with a segment sum
    (`keras.ops.segment_sum`, one segment per `(batch, id)` pair), which is
    a scatter-add on every backend (`unsorted_segment_sum` on TensorFlow,
    `jax.ops.segment_sum`, `scatter_reduce` on PyTorch), differentiable
    with respect to the weights and working for any number of decoder
    steps. It needs no `[batch, T_src, extended_size]` one-hot matrix,
    which for a long document and a large vocabulary would dwarf the
    result; its extra memory is of the order of the attention's.
    (`keras.ops.scatter` is not used: on PyTorch it loops in Python over
    every index.)

    All inputs are cast to float32 and the result is float32. These are
    functions of backend tensors: call them in a layer's `call`, a loss or a
    decoding step, not on the symbolic inputs of a functional model.

    Args:
        vocabulary_probabilities: Probabilities (not logits) over the fixed
            vocabulary, `[batch, V]` (one decoder step) or `[batch, T, V]`,
            with `V` known.
        attention: Attention weights over the source, `[batch, T_src]` or
            `[batch, T, T_src]` (the rank of `vocabulary_probabilities`).
        source_ids: Integer tensor `[batch, T_src]`, the extended ids of the
            source words. The attention of a position whose id is outside
            `[0, extended_size)` (e.g. a `-1` padding id) is dropped.
        p_gen: Generation probabilities, `[batch, 1]` or `[batch, T, 1]`,
            e.g. from `PointerGenerator`.
        extended_size: Python integer `>= V`, the size of the extended
            vocabulary (`V` plus the largest number of OOV source words of
            a document of the batch).

    Returns:
        A float32 tensor `[batch, extended_size]` or
        `[batch, T, extended_size]`.

    Example:

    >>> vocabulary = keras.ops.array([[0.1, 0.2, 0.3, 0.4]])  # V = 4
    >>> attention = keras.ops.array([[0.5, 0.25, 0.25]])
    >>> source_ids = keras.ops.array([[2, 4, 2]])  # id 4: an OOV word
    >>> p_gen = keras.ops.array([[0.8]])
    >>> extended_vocabulary_distribution(
    ...     vocabulary, attention, source_ids, p_gen, extended_size=5
    ... )
    [[0.08, 0.16, 0.39, 0.32, 0.05]]

    References:
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), "Get To The
          Point: Summarization with Pointer-Generator Networks", section
          2.2, equation 9.
        - [Vinyals et al., 2015](https://arxiv.org/abs/1506.03134),
          "Pointer Networks".
    """
    extended_size = _python_int(extended_size)
    probabilities, attention, source_ids, p_gen, single_step = _prepare(
        vocabulary_probabilities, attention, source_ids, p_gen
    )
    vocabulary_size = probabilities.shape[-1]
    if extended_size < vocabulary_size:
        raise ValueError(
            "`extended_size` must be at least the vocabulary size "
            f"({vocabulary_size}), the last dimension of "
            "`vocabulary_probabilities`. Received: "
            f"extended_size={extended_size}"
        )

    generated = ops.pad(
        p_gen * probabilities,
        [[0, 0], [0, 0], [0, extended_size - vocabulary_size]],
    )

    copied = _copy_distribution(attention, source_ids, p_gen, extended_size)
    distribution = generated + copied
    return distribution[:, 0] if single_step else distribution


def _copy_distribution(attention, source_ids, p_gen, extended_size):
    """`(1 - p_gen) sum_{i: w_i = w} a_i` of equation 9, per extended id.

    Args and shapes are those `_prepare` returns: attention `[batch, steps,
    T_enc]`, source ids `[batch, T_enc]`, `p_gen` `[batch, steps, 1]`.
    Returns `[batch, steps, extended_size]`.
    """
    shape = ops.shape(attention)
    batch_size, steps = shape[0], shape[1]
    # Ids outside the extended vocabulary (padding) would land in another
    # row's segment, or fail, so they are sent to id 0 with weight 0.
    in_range = ops.logical_and(source_ids >= 0, source_ids < extended_size)
    safe_ids = ops.where(in_range, source_ids, ops.zeros_like(source_ids))
    copied = (1.0 - p_gen) * attention
    copied = copied * ops.expand_dims(ops.cast(in_range, "float32"), 1)
    # One segment per (document, id); a row of data per source position,
    # holding its weight at every decoder step.
    rows = ops.expand_dims(ops.arange(batch_size, dtype="int32"), 1)
    segment_ids = ops.reshape(rows * extended_size + safe_ids, (-1,))
    data = ops.reshape(ops.transpose(copied, (0, 2, 1)), (-1, steps))
    copied = ops.segment_sum(
        data, segment_ids, num_segments=batch_size * extended_size
    )
    copied = ops.reshape(copied, (batch_size, extended_size, steps))
    return ops.transpose(copied, (0, 2, 1))


def extended_vocabulary_probability(
    vocabulary_probabilities, attention, source_ids, p_gen, target_ids
):
    """The probability of target ids under equation 9, for the loss.

    `P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: w_i = w} a_i`

    for each target id `w`, with `P_vocab(w) = 0` for `w >= V`, computed
    without building the distribution over the extended vocabulary: the
    vocabulary probability is gathered and the attention of the source
    positions holding `w` is summed, so the memory is that of the
    attention. The value equals gathering `target_ids` from
    `extended_vocabulary_distribution`, and it is differentiable with
    respect to the probabilities, the attention and `p_gen`. The training
    loss of See et al. is `-log(P(w_t) + epsilon)` averaged over the
    target steps.

    All inputs are cast to float32 and the result is float32. See the
    module docstring for the extended vocabulary convention.

    Args:
        vocabulary_probabilities: Probabilities (not logits) over the fixed
            vocabulary, `[batch, V]` (one decoder step) or `[batch, T, V]`.
        attention: Attention weights over the source, `[batch, T_src]` or
            `[batch, T, T_src]`.
        source_ids: Integer tensor `[batch, T_src]`, the extended ids of the
            source words.
        p_gen: Generation probabilities, `[batch, 1]` or `[batch, T, 1]`.
        target_ids: Integer tensor of extended ids, `[batch]` or
            `[batch, T]`. A negative id (or one that is neither in the
            vocabulary nor in the source) has probability 0.

    Returns:
        A float32 tensor `[batch]` or `[batch, T]`.

    Example:

    >>> vocabulary = keras.ops.array([[0.1, 0.2, 0.3, 0.4]])  # V = 4
    >>> attention = keras.ops.array([[0.5, 0.25, 0.25]])
    >>> source_ids = keras.ops.array([[2, 4, 2]])  # id 4: an OOV word
    >>> p_gen = keras.ops.array([[0.8]])
    >>> extended_vocabulary_probability(
    ...     vocabulary, attention, source_ids, p_gen, keras.ops.array([4])
    ... )
    [0.05]

    References:
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), "Get To The
          Point: Summarization with Pointer-Generator Networks", section
          2.2, equations 9-11.
    """
    probabilities, attention, source_ids, p_gen, single_step = _prepare(
        vocabulary_probabilities, attention, source_ids, p_gen
    )
    target_ids = ops.convert_to_tensor(target_ids)
    expected = tuple(probabilities.shape[:-1])
    if single_step:
        expected = expected[:1]
    _check_integer(target_ids, "target_ids")
    if len(target_ids.shape) != len(expected) or not _dims_agree(
        target_ids.shape, expected
    ):
        raise ValueError(
            "`target_ids` must have the leading dimensions of "
            f"`vocabulary_probabilities`, {expected}. Received: "
            f"target_ids.shape={tuple(target_ids.shape)}"
        )
    if single_step:
        target_ids = ops.expand_dims(target_ids, 1)
    target_ids = ops.cast(target_ids, source_ids.dtype)

    vocabulary_size = probabilities.shape[-1]
    in_vocabulary = ops.logical_and(
        target_ids >= 0, target_ids < vocabulary_size
    )
    safe_ids = ops.where(in_vocabulary, target_ids, ops.zeros_like(target_ids))
    generated = ops.take_along_axis(
        probabilities, ops.expand_dims(safe_ids, -1), axis=-1
    )[..., 0]
    generated = ops.where(in_vocabulary, generated, ops.zeros_like(generated))
    # [batch, T, T_src]: which source positions hold each target word.
    matches = ops.expand_dims(source_ids, 1) == ops.expand_dims(target_ids, -1)
    copied = ops.sum(attention * ops.cast(matches, "float32"), axis=-1)
    p_gen = p_gen[..., 0]
    probability = p_gen * generated + (1.0 - p_gen) * copied
    return probability[:, 0] if single_step else probability


def _prepare(vocabulary_probabilities, attention, source_ids, p_gen):
    """Checks the inputs; returns them float32, `[batch, T, ...]`."""
    probabilities = ops.convert_to_tensor(vocabulary_probabilities)
    attention = ops.convert_to_tensor(attention)
    source_ids = ops.convert_to_tensor(source_ids)
    p_gen = ops.convert_to_tensor(p_gen)
    probability_shape = tuple(probabilities.shape)
    if len(probability_shape) not in (2, 3):
        raise ValueError(
            "`vocabulary_probabilities` must have rank 2 ([batch, V], one "
            "decoder step) or 3 ([batch, T, V]). Received: "
            f"vocabulary_probabilities.shape={probability_shape}"
        )
    if probability_shape[-1] is None:
        raise ValueError(
            "The vocabulary size, the last dimension of "
            "`vocabulary_probabilities`, must be known. Received: "
            f"vocabulary_probabilities.shape={probability_shape}"
        )
    leading = probability_shape[:-1]
    attention_shape = tuple(attention.shape)
    if len(attention_shape) != len(probability_shape) or not _dims_agree(
        attention_shape[:-1], leading
    ):
        raise ValueError(
            "`attention` must have the rank and leading dimensions of "
            f"`vocabulary_probabilities`, {leading} + (T_src,). Received: "
            f"attention.shape={attention_shape}"
        )
    _check_integer(source_ids, "source_ids")
    source_shape = tuple(source_ids.shape)
    expected_source = (leading[0], attention_shape[-1])
    if len(source_shape) != 2 or not _dims_agree(source_shape, expected_source):
        raise ValueError(
            "`source_ids` must have shape [batch, T_src], "
            f"{expected_source}, like the attention. Received: "
            f"source_ids.shape={source_shape}"
        )
    p_gen_shape = tuple(p_gen.shape)
    if len(p_gen_shape) != len(probability_shape) or not _dims_agree(
        p_gen_shape, leading + (1,)
    ):
        raise ValueError(
            f"`p_gen` must have shape {leading + (1,)}, the leading "
            "dimensions of `vocabulary_probabilities` and a last dimension "
            f"of 1. Received: p_gen.shape={p_gen_shape}"
        )
    single_step = len(probability_shape) == 2
    # One integer dtype for the id arithmetic (TensorFlow mixes none).
    source_ids = ops.cast(source_ids, "int32")
    probabilities = ops.cast(probabilities, "float32")
    attention = ops.cast(attention, "float32")
    p_gen = ops.cast(p_gen, "float32")
    if single_step:
        probabilities = ops.expand_dims(probabilities, 1)
        attention = ops.expand_dims(attention, 1)
        p_gen = ops.expand_dims(p_gen, 1)
    return probabilities, attention, source_ids, p_gen, single_step


def _python_int(extended_size):
    """`extended_size` as an `int`; a float, tensor or bool is refused."""
    if not isinstance(extended_size, bool):
        try:
            return operator.index(extended_size)
        except TypeError:
            pass
    raise ValueError(
        "`extended_size` must be a Python integer, the number of ids of the "
        f"extended vocabulary. Received: extended_size={extended_size!r}"
    )


def _check_integer(ids, name):
    dtype = keras.backend.standardize_dtype(ids.dtype)
    if "int" not in dtype:
        raise ValueError(
            f"`{name}` must be an integer tensor of extended vocabulary ids. "
            f"Received: {name}.dtype={dtype}"
        )


def _dims_agree(shape, expected):
    """Same length, and equal wherever both dimensions are known."""
    shape, expected = tuple(shape), tuple(expected)
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b
        for a, b in zip(shape, expected, strict=True)
    )
