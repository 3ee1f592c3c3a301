"""Losses and penalties of attention models."""

from keras_attention.losses.coverage_loss import coverage_loss
from keras_attention.losses.doubly_stochastic_penalty import (
    doubly_stochastic_penalty,
)

__all__ = ["coverage_loss", "doubly_stochastic_penalty"]
