"""Attention layers (Bahdanau, Luong, multi-head) and attentive decoders."""

from keras_attention.layers.attention_rnn import AttentionRNN
from keras_attention.layers.bahdanau_attention import BahdanauAttention
from keras_attention.layers.base_attention import BaseAttention
from keras_attention.layers.deep_output import DeepOutput
from keras_attention.layers.hard_attention_loss import HardAttentionLoss
from keras_attention.layers.luong_attention import LuongAttention
from keras_attention.layers.masked_softmax import masked_softmax
from keras_attention.layers.multi_head_attention import MultiHeadAttention
from keras_attention.layers.pointer_generator import PointerGenerator
from keras_attention.layers.pointer_generator import (
    extended_vocabulary_distribution,
)
from keras_attention.layers.pointer_generator import (
    extended_vocabulary_probability,
)

__all__ = [
    "AttentionRNN",
    "BahdanauAttention",
    "BaseAttention",
    "DeepOutput",
    "HardAttentionLoss",
    "LuongAttention",
    "MultiHeadAttention",
    "PointerGenerator",
    "extended_vocabulary_distribution",
    "extended_vocabulary_probability",
    "masked_softmax",
]
