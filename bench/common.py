"""Helpers shared by the benchmarks: timing, compilation, arguments."""

import argparse
import platform
import statistics
import time

import keras


def time_interleaved(functions, repeats, warmup):
    """Median wall time of each function, calling them in turn.

    Args:
        functions: Callables without arguments that block until their result
            is computed.
        repeats: Number of timed calls of each function.
        warmup: Number of untimed calls of each function first (tracing,
            compilation, memory allocation).

    Returns:
        The median time of each function in milliseconds.

    Example:

    >>> fast, slow = time_interleaved(
    ...     [lambda: time.sleep(0.001), lambda: time.sleep(0.01)], 5, 1
    ... )
    >>> fast < slow
    True
    """
    for _ in range(warmup):
        for function in functions:
            function()
    samples = [[] for _ in functions]
    for _ in range(repeats):
        for function, times in zip(functions, samples, strict=True):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return [1000.0 * statistics.median(times) for times in samples]


def compile_function(function):
    """Compiles `function` with the active backend's compiler.

    Returns:
        `(compiled_function, description)`: XLA through
        `tf.function(jit_compile=True)` on TensorFlow, `jax.jit` on JAX, and
        eager calls without autograd on PyTorch.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return (
            tf.function(function, jit_compile=True),
            "tf.function(jit_compile=True)",
        )
    if backend == "jax":
        import jax

        return jax.jit(function), "jax.jit"
    if backend == "torch":
        import torch

        return torch.no_grad()(function), "eager, torch.no_grad()"
    return function, "eager"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def jit_compile_argument(text):
    choices = {"auto": "auto", "true": True, "false": False}
    if text.lower() not in choices:
        raise argparse.ArgumentTypeError(
            f"`--jit-compile` must be one of auto, true, false. "
            f"Received: {text!r}"
        )
    return choices[text.lower()]


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer. Received: {text!r}"
        )
    return value
