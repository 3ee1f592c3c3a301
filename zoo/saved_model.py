"""Writing SavedModels: the preamble every task's `export` shares.

A task's export builds a `keras.export.ExportArchive` around its model's
serving function; these check where it goes and write it as one step.
"""

import os
import pathlib
import shutil
import tempfile

import keras


def check_tensorflow_backend(what):
    """Refuses to export a SavedModel from another backend than TensorFlow.

    Args:
        what: The exporting function, named in the message.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"`{what}` needs the TensorFlow backend (the "
            "tokenizers and the SavedModel are TensorFlow). Set "
            f"KERAS_BACKEND=tensorflow. Received: backend={backend}"
        )


def check_export_path(path):
    """Refuses a path that is a file, a non-SavedModel folder or read-only."""
    path = pathlib.Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(
            "`path` must be a directory to write the SavedModel to. "
            f"Received: path={str(path)!r}, which is a file"
        )
    if (
        path.is_dir()
        and any(path.iterdir())
        and not (path / "saved_model.pb").exists()
    ):
        raise ValueError(
            "`path` holds files that are not a SavedModel; refusing to "
            f"replace them. Received: path={str(path)!r}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot create the folder of `path`: {error.strerror}. "
            f"Received: path={str(path)!r}"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise ValueError(
            "`path` is in a folder that is not writable. Received: "
            f"path={str(path)!r}"
        )
    return path


def write_archive(archive, path):
    """Writes a `keras.export.ExportArchive` to `path` as one step.

    The SavedModel is written next to `path` under a temporary name and
    renamed into place, so an interrupted export leaves the previous one
    whole.

    Returns:
        The path written, as a string.
    """
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)
    )
    try:
        archive.write_out(str(staging), verbose=False)
        replace_directory(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(path)


def replace_directory(new, path):
    """Renames `new` to `path`, replacing what was there as one step."""
    if not path.exists():
        new.rename(path)
        return
    # Directories cannot be swapped with one rename; the old SavedModel is
    # moved aside first and deleted only once the new one is in place.
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    new.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def served_texts(texts):
    """The texts a SavedModel's function reads, checked inside its graph.

    The exported functions take a 1-D `tf.string` batch. A signature
    called with another shape (a matrix, a scalar) fails with an error
    naming the input and its shape instead of decoding a garbled batch;
    an element that is not valid UTF-8 becomes `""`, whose output is
    empty (the text policy of `zoo.inputs`).

    Args:
        texts: The function's `tf.string` input, declared `[None]`.

    Returns:
        The `[batch]` strings, those that are not UTF-8 emptied.
    """
    import tensorflow as tf

    # A check the graph keeps: signatures of a loaded SavedModel do not
    # check the shape of their inputs, and the declared shape lets
    # TensorFlow fold away a comparison of ranks.
    texts = tf.ensure_shape(texts, [None])
    recoded = tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace"
    )
    return tf.where(tf.equal(recoded, texts), texts, "")
