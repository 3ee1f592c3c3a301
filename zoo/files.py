"""Files of the zoo: reading local paths and URLs, writing atomically.

Shared by every task: data loaders read through `resolve_path`,
`read_lines` and `read_json`, and open the files that a data file names
only through `path_inside` (never outside the data folder); run
directories, models, evaluation records
and feature caches are written through `write_atomically`, so that a kill
leaves the previous file (or none), never a truncated one.
"""

import gzip
import json
import os
import pathlib
import urllib.parse
import zipfile

import keras

URL_SCHEMES = ("http", "https", "ftp", "file")


def is_url(path):
    """Whether `path` is an `http`, `https`, `ftp` or `file` URL."""
    return urllib.parse.urlparse(str(path)).scheme in URL_SCHEMES


def resolve_path(path, cache_dir=None):
    """Returns a local path for a file path or a URL.

    URLs are downloaded with `keras.utils.get_file` into
    `cache_dir/datasets` (default `~/.keras/datasets`), once: later calls
    reuse the cached file.

    Args:
        path: a local file path (`str` or `pathlib.Path`) or an `http`,
            `https`, `ftp` or `file` URL.
        cache_dir: where downloads are cached; `None` for Keras' default.

    Returns:
        A `pathlib.Path` to an existing local file or directory.

    Raises:
        FileNotFoundError: if a local `path` does not exist.

    Example:

    >>> resolve_path("/tmp")
    PosixPath('/tmp')
    """
    if is_url(path):
        file_name = pathlib.PurePosixPath(
            urllib.parse.urlparse(str(path)).path
        ).name
        if not file_name:
            raise ValueError(
                "`path` must be the URL of a file, ending with its name. "
                f"Received: path={path!r}"
            )
        return pathlib.Path(
            keras.utils.get_file(
                fname=file_name, origin=str(path), cache_dir=cache_dir
            )
        )
    local_path = pathlib.Path(path).expanduser()
    if not local_path.exists():
        raise FileNotFoundError(f"No such file or directory: '{local_path}'")
    return local_path


def path_inside(folder, relative):
    """`folder / relative`, if it stays inside `folder` once resolved.

    For the paths that a data file names (a caption file's image names):
    they must not lead out of the data folder, so an absolute path, `..`
    components or a symlink whose target lies elsewhere are refused.
    Symlinks are resolved on both sides, so `folder` itself may be a link;
    a path the user gives on the command line is the user's choice and is
    not checked with this.

    Args:
        folder: The data folder, a `str` or `pathlib.Path`.
        relative: A path read from a data file, meant relative to
            `folder`; it need not exist.

    Returns:
        `folder / relative` as a `pathlib.Path` (unresolved: names kept).

    Raises:
        ValueError: If the path leads outside `folder`, naming both.

    Example:

    >>> path_inside("/data", "Images/a.jpg")
    PosixPath('/data/Images/a.jpg')
    >>> path_inside("/data", "../etc/passwd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: '../etc/passwd' must lead to a path inside /data. Received: ...
    """
    folder = pathlib.Path(folder)
    path = folder / relative
    root = pathlib.Path(os.path.realpath(folder))
    resolved = pathlib.Path(os.path.realpath(path))
    if resolved != root and root not in resolved.parents:
        raise ValueError(
            f"{str(relative)!r} must lead to a path inside {folder}. "
            f"Received: a path resolving to {resolved}"
        )
    return path


def _is_metadata(name):
    """Whether a zip member is metadata rather than data.

    Skipped: `_about.txt` (and any name starting with "_"), hidden files
    and folders (names starting with "."), macOS resource forks (`._*`)
    and the `__MACOSX/` folder that macOS's Archive Utility adds.
    """
    parts = pathlib.PurePosixPath(name).parts
    return (
        not parts
        or parts[0] == "__MACOSX"
        or parts[-1].startswith("_")
        or any(part.startswith(".") for part in parts)
    )


def _zip_member(archive, path):
    """Picks the one data file in an Anki-style zip (skipping metadata)."""
    candidates = [
        name
        for name in archive.namelist()
        if name.endswith((".txt", ".tsv")) and not _is_metadata(name)
    ]
    if len(candidates) != 1:
        raise ValueError(
            f"{path}: expected exactly one .txt or .tsv data file in the zip "
            "archive (files starting with '_' or '.' and the __MACOSX "
            f"folder are skipped). Found: {candidates}"
        )
    return candidates[0]


def read_lines(path):
    """Reads the lines of a UTF-8 text file, plain, `.gz` or `.zip`.

    Lines are split on "\\n" only (a stray "\\r" is removed), so that
    line-aligned files stay aligned even when a sentence holds another
    Unicode line separator; a file without any "\\n" but with "\\r" (old
    Mac OS line endings) is split on "\\r". A UTF-8 byte-order mark is
    dropped.

    Args:
        path: a local `pathlib.Path` or string. A `.zip` archive must hold
            exactly one `.txt` or `.tsv` data file; names starting with "_"
            (`_about.txt`) or "." (hidden files, macOS `._*` resource
            forks) and the `__MACOSX/` folder are skipped.

    Returns:
        A list of strings without line terminators.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file cannot be read, decompressed or decoded;
            the message names the file and, for decoding, the line.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_text("Go.\\tVe.\\n", encoding="utf-8")
    >>> read_lines(path)
    ['Go.\\tVe.']
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: '{path}'")
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                data = archive.read(_zip_member(archive, path))
        elif path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                data = file.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"Could not read {path}: {error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"{path}, line {line_number}: not valid UTF-8 ({error.reason} "
            f"at byte {error.start})."
        ) from None
    text = text.removeprefix("\ufeff")
    # Classic Mac OS files end lines with "\r" alone; without any "\n",
    # splitting on "\n" would read the whole file as one line.
    separator = "\r" if "\r" in text and "\n" not in text else "\n"
    lines = text.split(separator)
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_json(path):
    """The JSON value of a UTF-8 file; errors name the file and line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ValueError(f"Could not read {path}: {error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}, line {error.lineno}: not valid JSON ({error.msg})."
        ) from None


def json_field(record, key, path, where, kind):
    """`record[key]`, checked to be of `kind` (a type or tuple of types).

    `where` names the record (`"images[3]"`), or is empty for the file's
    top level.
    """
    if not isinstance(record, dict):
        raise ValueError(
            f"{path}: {where or 'the file'} must be a JSON object, found "
            f"{type(record).__name__}."
        )
    if key not in record:
        raise ValueError(
            f"{path}: {where or 'the file'} has no {key!r} key (keys: "
            f"{sorted(record)})."
        )
    value = record[key]
    location = f"{where}[{key!r}]" if where else repr(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(
            f"{path}: {location} must be a {names}, found {value!r:.80}."
        )
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{path}: {location} is empty.")
    return value


def partial_path(path):
    # Hidden, beside the target (one file system, so renaming is atomic),
    # with the target's suffix, which `model.save` checks.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_atomically(path, write):
    """Writes a file under a temporary name, then renames it into place.

    A kill during `write` leaves the previous file (or none) at `path`,
    never a truncated one; the temporary file is synced first, so the
    rename never exposes unwritten data.

    Args:
        path: The file to write.
        write: A function that writes the file at the path it is given
            (e.g. `model.save`).

    Returns:
        `path`, as a `pathlib.Path`.

    Example:

    ```python
    write_atomically("runs/x/model.keras", model.save)
    ```
    """
    path = pathlib.Path(path)
    partial = partial_path(path)
    try:
        write(str(partial))
        with open(partial, "rb") as file:
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        # A failed write (a full disk) leaves nothing behind; a kill
        # leaves the hidden partial file, which the next write replaces.
        partial.unlink(missing_ok=True)
        raise
    return path
