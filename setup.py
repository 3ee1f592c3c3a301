"""Packaging for keras-attention-zoo (import package: ``keras_attention``)."""

import pathlib

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent

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
    install_requires=[
        "keras>=3.10",
        "numpy",
        # tensorflow-text must match TensorFlow's minor version.
        "tensorflow>=2.21,<2.22",
        "tensorflow-text>=2.21,<2.22",
        "tensorboard",
        "matplotlib",
        "sacrebleu>=2.4",
    ],
    extras_require={
        # torch is left out on purpose: from PyPI it brings several GB of
        # CUDA wheels. Install a CPU build yourself to test that backend.
        "tests": [
            "pytest>=8",
            "hypothesis>=6.100",
            "jax[cpu]>=0.4.30",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
        ],
        "dev": [
            "ruff>=0.6",
            "pytest>=8",
            "hypothesis>=6.100",
            "jax[cpu]>=0.4.30",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
        ],
    },
    entry_points={
        "console_scripts": ["keras-attention-zoo=zoo.cli:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
