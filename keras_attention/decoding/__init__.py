"""Decoders over a user step function: greedy, sampling and beam search."""

from keras_attention.decoding.beam_search import beam_search
from keras_attention.decoding.beam_search import coverage_penalty_value
from keras_attention.decoding.beam_search import length_penalty_factor
from keras_attention.decoding.greedy_search import greedy_search
from keras_attention.decoding.random_sampling import random_sampling

__all__ = [
    "beam_search",
    "coverage_penalty_value",
    "greedy_search",
    "length_penalty_factor",
    "random_sampling",
]
