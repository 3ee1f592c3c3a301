"""Short fingerprints of what defines a run (its data, its vocabulary).

A run record (`zoo.run_directory.RunRecord`) keeps them, so that a rerun
in the same logdir resumes only on the same data. Two digests exist
because runs recorded by earlier versions must keep resuming:
`text_fingerprint` is translation's (named lists of strings), `fingerprint`
every other task's (any JSON value).
"""

import hashlib
import json


def fingerprint(value):
    """A short SHA-256 of a JSON value (other values as their `str`).

    Example:

    >>> fingerprint({"train": ["a", "b"]}) == fingerprint({"train": ["a", "b"]})
    True
    """
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def text_fingerprint(named_texts):
    """A short SHA-256 of named lists of strings (or of string pairs)."""
    digest = hashlib.sha256()
    for name, items in sorted(named_texts.items()):
        digest.update(f"{name}\0{len(items)}\0".encode())
        for item in items:
            text = "\t".join(item) if isinstance(item, (tuple, list)) else item
            digest.update(text.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()[:16]
