"""The deep output layer of Show, Attend and Tell (equation 7)."""

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils

# Fixed per kernel, so a seeded initializer gives each its own seed.
_KERNEL_INDEX = {
    "hidden_projection": 0,
    "context_projection": 1,
    "output_projection": 2,
}


@keras.saving.register_keras_serializable(package="keras_attention")
class DeepOutput(keras.layers.Layer):
    """Word logits from the hidden state, the context and the previous word.

    Equation 7 of Xu et al. (2015):

    `p(y_t | a, y_{t-1}) ∝ exp(L_o (E y_{t-1} + L_h h_t + L_z z_t))`

    where `h_t` is the decoder's hidden state, `z_t` the attention context,
    `E y_{t-1}` the embedding of the previous word (the model's own
    embedding, passed in) and `L_h`, `L_z`, `L_o` learned projections. The
    equation is linear; the authors' code (arctic-captions) applies `tanh`
    to the sum before `L_o`, which is this layer's default `activation`.
    Pass `activation=None` for the equation as printed. The sum carries one
    bias (that of `L_h`), and dropout applies before `L_o`.

    Args:
        vocabulary_size: Positive integer, the number of words (logits).
        units: Positive integer `m`, the size of the sum; defaults to the
            last dimension of `previous_embedding` (of `hidden` when
            `use_previous_token=False`).
        activation: Activation applied to the sum before `L_o`; `"tanh"`
            (default, as the authors' code) or `None` (equation 7 as
            printed).
        dropout: Float in `[0, 1)`, dropout rate before `L_o`.
        use_previous_token: Whether the sum includes `E y_{t-1}`.
        use_context: Whether the sum includes `L_z z_t`.
        kernel_initializer: Initializer of `L_h`, `L_z` and `L_o`, each
            created from its own clone so that they start different.
        bias_initializer: Initializer of the biases of the sum and of `L_o`.
        kernel_regularizer: Optional regularizer of the kernels.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        hidden: Hidden states `h_t`, `[batch, dim_h]` (one step) or
            `[batch, T, dim_h]`.
        context: Contexts `z_t` of the same rank; required when
            `use_context=True`, refused otherwise.
        previous_embedding: Embedded previous words `E y_{t-1}` of the same
            rank and last dimension `units`; required when
            `use_previous_token=True`, refused otherwise.
        training: Whether dropout is active.

    Returns:
        Logits `[..., vocabulary_size]`, of the rank of `hidden`.

    Example:

    >>> hidden = keras.random.normal((2, 5, 16))
    >>> context = keras.random.normal((2, 5, 32))
    >>> previous = keras.random.normal((2, 5, 8))
    >>> logits = keras_attention.layers.DeepOutput(100)(
    ...     hidden, context, previous
    ... )
    >>> logits.shape
    (2, 5, 100)

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), section 3.1.2,
          equation 7 (the deep output layer), after
          [Pascanu et al., 2014](https://arxiv.org/abs/1312.6026).
    """

    def __init__(
        self,
        vocabulary_size,
        units=None,
        activation="tanh",
        dropout=0.0,
        use_previous_token=True,
        use_context=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not _is_positive_int(vocabulary_size):
            raise ValueError(
                "`vocabulary_size` must be a positive integer. "
                f"Received: vocabulary_size={vocabulary_size}"
            )
        if units is not None and not _is_positive_int(units):
            raise ValueError(
                "`units` must be a positive integer or None. "
                f"Received: units={units}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout}"
            )
        self.vocabulary_size = vocabulary_size
        self.units = units
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.use_previous_token = use_previous_token
        self.use_context = use_context
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self._dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )
        self.supports_masking = True

    def _dense(self, units, name, use_bias):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=utils.clone_initializer(
                self.kernel_initializer, _KERNEL_INDEX[name]
            ),
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _check_inputs(self, hidden, context, previous_embedding):
        """Checks presence and ranks; takes shapes. Returns `units`."""
        for name, shape, wanted in (
            ("context", context, self.use_context),
            ("previous_embedding", previous_embedding, self.use_previous_token),
        ):
            flag = "use_context" if name == "context" else "use_previous_token"
            if wanted and shape is None:
                raise ValueError(
                    f"`{name}` is required when {flag}=True. "
                    f"Received: {name}=None"
                )
            if not wanted and shape is not None:
                raise ValueError(
                    f"`{name}` must be None when {flag}=False. "
                    f"Received: {name}.shape={tuple(shape)}"
                )
        hidden = tuple(hidden)
        if len(hidden) not in (2, 3):
            raise ValueError(
                "`hidden` must have rank 2 ([batch, dim], one step) or 3 "
                f"([batch, T, dim]). Received: hidden.shape={hidden}"
            )
        for name, shape in (
            ("context", context),
            ("previous_embedding", previous_embedding),
        ):
            if shape is not None and len(shape) != len(hidden):
                raise ValueError(
                    f"`{name}` must have the rank of `hidden`. Received: "
                    f"{name}.shape={tuple(shape)}, hidden.shape={hidden}"
                )
        if previous_embedding is None:
            return self.units or hidden[-1]
        embedding_dim = previous_embedding[-1]
        units = self.units or embedding_dim
        if embedding_dim is not None and embedding_dim != units:
            raise ValueError(
                "The last dimension of `previous_embedding` (E y_{t-1}) must "
                f"equal `units` ({units}), the size of the sum it is added "
                "to. Received: "
                f"previous_embedding.shape={tuple(previous_embedding)}, "
                f"units={units}"
            )
        return units

    def build(
        self, hidden_shape, context_shape=None, previous_embedding_shape=None
    ):
        units = self._check_inputs(
            hidden_shape, context_shape, previous_embedding_shape
        )
        if units is None:
            raise ValueError(
                "`units` must be given when the last dimension of "
                "`previous_embedding` (or `hidden`) is unknown. Received: "
                f"hidden.shape={tuple(hidden_shape)}, units=None"
            )
        # One bias in the sum: `L_h` carries it.
        self._hidden_dense = self._dense(units, "hidden_projection", True)
        self._hidden_dense.build(hidden_shape)
        self._context_dense = None
        if self.use_context:
            self._context_dense = self._dense(
                units, "context_projection", False
            )
            self._context_dense.build(context_shape)
        self._output_dense = self._dense(
            self.vocabulary_size, "output_projection", True
        )
        self._output_dense.build(tuple(hidden_shape[:-1]) + (units,))
        self.built = True

    def call(
        self, hidden, context=None, previous_embedding=None, training=None
    ):
        self._check_inputs(
            hidden.shape,
            None if context is None else context.shape,
            None if previous_embedding is None else previous_embedding.shape,
        )
        total = self._hidden_dense(hidden)
        if self._context_dense is not None:
            total = total + self._context_dense(context)
        if self.use_previous_token:
            total = total + ops.cast(previous_embedding, total.dtype)
        total = self.activation(total)
        total = self._dropout_layer(total, training=training)
        return self._output_dense(total)

    def compute_output_shape(
        self, hidden_shape, context_shape=None, previous_embedding_shape=None
    ):
        return tuple(hidden_shape[:-1]) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "use_previous_token": self.use_previous_token,
                "use_context": self.use_context,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
