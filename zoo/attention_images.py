"""Attention images written where they replace nothing of the user's.

Shared by the commands that write attention images with `--attention-dir`
(`caption`, `summarize`). One rule, checked for every image before any is
written: a file is written where there is none, or where there is a PNG
that a zoo command wrote (it carries the PNG text chunk `Software:
keras-attention-zoo attention image`), so that a command run again
replaces its own images. Anything else there is refused with one line
naming it: an input of the command (even one of our PNGs given as an
input), a file of the user's or of another program, a symlink, a folder.
Images are written atomically (`zoo.files.write_atomically`).

`image_name` derives a file name from the whole input path, so that two
inputs never share one (`good.jpg` and `good.png`, `a/x.png` and
`b/x.png`) and an input keeps its name from run to run.
"""

import hashlib
import os
import pathlib

from zoo.files import write_atomically

SOFTWARE = "keras-attention-zoo attention image"
_DIGEST_CHARACTERS = 10


def image_name(source):
    """The file name of the attention image of the input `source`.

    `NAME.DIGEST.png`: the input's file name (extension included) and
    the first 10 hex digits of the SHA-256 of its absolute, normalized
    path (symlinks are not resolved): unique per input path, the same in
    every run from anywhere.

    Args:
        source: The input's path as the user gave it (`str` or
            `pathlib.Path`); it need not exist.

    Returns:
        A file name, e.g. `"photo.png.3f2a9c1e07.png"`.

    Example:

    >>> image_name("/photos/a/x.png") != image_name("/photos/b/x.png")
    True
    >>> image_name("/photos/a/x.png").startswith("x.png.")
    True
    """
    absolute = os.path.abspath(os.fspath(source))
    digest = hashlib.sha256(os.fsencode(absolute)).hexdigest()
    name = pathlib.Path(absolute).name or "input"
    return f"{name}.{digest[:_DIGEST_CHARACTERS]}.png"


def _is_ours(path):
    """Whether `path` is a PNG that a zoo command wrote (its marker)."""
    import PIL.Image

    try:
        with PIL.Image.open(path) as image:
            return image.format == "PNG" and (
                image.info.get("Software") == SOFTWARE
            )
    except (OSError, ValueError):  # PIL.UnidentifiedImageError is OSError.
        return False


def _existing_inputs(inputs):
    """`os.stat` results of the inputs that are files or folders."""
    found = []
    for source in inputs:
        try:
            found.append(os.stat(source))
        except (OSError, ValueError, TypeError):
            # Not a path (a text given on the command line) or absent.
            continue
    return found


def check_targets(directory, names, inputs=()):
    """Refuses any image of `names` in `directory` that would replace
    something not ours (see the module's rule).

    Args:
        directory: The folder of the images (it need not exist yet).
        names: The images' file names.
        inputs: The command's inputs (paths, or texts that are no path).

    Returns:
        The images' paths, `directory / name`, in order.

    Raises:
        ValueError: Naming the first path that holds an input, a symlink,
            a folder or a file that no zoo command wrote, or a
            `directory` that is not a folder.
    """
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(
            "attention images: expected a folder to write them to. "
            f"Received: {str(directory)!r}, which is not a folder"
        )
    inputs = _existing_inputs(inputs)
    targets = [directory / name for name in names]
    for target in targets:
        try:
            status = os.lstat(target)
        except FileNotFoundError:
            continue
        if any(os.path.samestat(status, other) for other in inputs):
            found = "an input of this command"
        elif target.is_symlink():
            found = "a symlink"
        elif not target.is_file():
            found = "something that is not a file"
        elif not _is_ours(target):
            found = "a file that no zoo command wrote"
        else:
            continue
        raise ValueError(
            f"attention image {str(target)!r}: expected a new path or an "
            f"attention image a zoo command wrote there. Received: {found} "
            "(remove it or choose another folder)"
        )
    return targets


def write_images(directory, images, inputs=()):
    """Writes attention images as PNGs, replacing nothing of the user's.

    Every path is checked (`check_targets`) before any is written; each
    PNG carries the `Software` text chunk that marks it as ours.

    Args:
        directory: The folder to write to; created if needed.
        images: `(file name, image)` pairs: names from `image_name` (or
            `summary_1.png`, ...), images `uint8` arrays `[height, width,
            3]` (RGB) or `[..., 4]` (RGBA).
        inputs: The command's inputs, never replaced.

    Returns:
        The paths written, in the order of `images`.

    Raises:
        ValueError: As `check_targets`, before anything is written, or
            for a name given twice.

    Example:

    ```python
    paths = write_images("out", [(image_name("cat.jpg"), rgb)], ["cat.jpg"])
    ```
    """
    import numpy as np
    import PIL.Image
    import PIL.PngImagePlugin

    names = [name for name, _ in images]
    if len(set(names)) != len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise ValueError(
            "attention images: expected one image per file name. "
            f"Received: {repeated!r} more than once"
        )
    targets = check_targets(directory, names, inputs)
    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    marker = PIL.PngImagePlugin.PngInfo()
    marker.add_text("Software", SOFTWARE)
    for target, (_, image) in zip(targets, images, strict=True):
        picture = PIL.Image.fromarray(np.asarray(image, np.uint8))

        def save(path, picture=picture):
            picture.save(path, format="PNG", pnginfo=marker)

        write_atomically(target, save)
    return targets
