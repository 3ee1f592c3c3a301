"""Show, Attend and Tell image captioning (Xu et al. 2015) for the zoo.

Importing the package registers the captioner's classes with Keras, so
`keras.saving.load_model` reads a saved captioner.
"""

from zoo.captioning.model import PixelEncoder
from zoo.captioning.model import ShowAttendTell

__all__ = ["PixelEncoder", "ShowAttendTell"]
