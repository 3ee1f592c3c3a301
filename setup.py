"""Packaging for keras-attention-zoo (import package: ``keras_attention``)."""

import pathlib

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent

_PLOT = ["matplotlib"]
_TEXT = ["sacrebleu>=2.4"]
# ROUGE-1/2/L of `keras_attention.metrics.summary_scores`.
_SUMMARY = ["rouge-score>=0.1.2"]
# CIDEr-D of `caption_scores` (coco-caption's scorer).
_CAPTION = ["pycocoevalcap>=1.2"]
_TENSORBOARD = ["tensorflow>=2.21,<2.22", "tensorboard"]
# tensorflow-text must match TensorFlow's minor version.
# The zoo's image captioner reports CIDEr-D.
_ZOO = (
    _PLOT
    + _TEXT
    + _CAPTION
    + _SUMMARY
    + _TENSORBOARD
    + ["tensorflow-text>=2.21,<2.22"]
)
# torch is left out on purpose: from PyPI it brings several GB of CUDA
# wheels. Install a CPU build yourself to test that backend.
_TESTS = _ZOO + [
    "pytest>=8",
    "pytest-xdist>=3.5",
    "hypothesis>=6.100",
    "jax[cpu]>=0.4.30",
    "nbclient>=0.10",
    "nbformat>=5.10",
    "ipykernel>=6.29",
]


def _extras():
    return {
        # `plot_attention` / `attention_to_image`.
        "plot": _PLOT,
        # `keras_attention.metrics.text_scores`.
        "text": _TEXT,
        # `keras_attention.metrics.caption_scores` (BLEU-1..4, CIDEr-D).
        "caption": _CAPTION + _TEXT,
        # `keras_attention.metrics.summary_scores` (ROUGE-1/2/L).
        "summary": _SUMMARY,
        # `AttentionSummary` (writes with `tf.summary`, any backend).
        "tensorboard": _TENSORBOARD + _PLOT + _TEXT,
        # The model zoo and its `keras-attention-zoo` command.
        "zoo": _ZOO,
        "tests": _TESTS,
        "dev": _TESTS + ["ruff>=0.6"],
    }


setup(
    # "keras-attention" and "attention" are taken on PyPI.
    name="keras-attention-zoo",
    version="0.1.0",
    description=(
        "Bahdanau, Luong and multi-head attention layers for Keras 3, "
        "attentive RNN decoders, beam search and a model zoo."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_attention*", "zoo*"]),
    # The layers need only Keras and NumPy (any backend); plotting,
    # TensorBoard summaries, text scores and the zoo come with extras.
    # Public Keras API only (no `keras.src`; tests/test_code_shape.py
    # checks it), all of it present in 3.10; capped below the next major
    # version. The tests run on the newest release (3.15 today).
    install_requires=["keras>=3.10,<4", "numpy"],
    extras_require=_extras(),
    entry_points={
        "console_scripts": ["keras-attention-zoo=zoo.cli:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
