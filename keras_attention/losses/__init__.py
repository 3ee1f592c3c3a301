"""Losses and penalties of attention models."""

from keras_attention.losses.doubly_stochastic_penalty import (
    doubly_stochastic_penalty,
)

__all__ = ["doubly_stochastic_penalty"]
