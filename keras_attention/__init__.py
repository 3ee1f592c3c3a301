"""Attention layers, attentive decoders and beam search for Keras 3."""

from keras_attention import callbacks
from keras_attention import decoding
from keras_attention import layers
from keras_attention import losses
from keras_attention import metrics
from keras_attention import visualization
from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention

__version__ = "0.1.0"

__all__ = [
    "AttentionRNN",
    "BahdanauAttention",
    "LuongAttention",
    "MultiHeadAttention",
    "callbacks",
    "decoding",
    "layers",
    "losses",
    "metrics",
    "visualization",
]
