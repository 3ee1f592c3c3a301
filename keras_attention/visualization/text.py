"""Text of tokens: `str`, UTF-8 `bytes`, scalars and scalar tensors.

Tokens reach the plots and summaries as Python strings, bytes, NumPy
scalars or scalar tensors (e.g. an element of a TensorFlow string tensor);
these functions turn each into the text it stands for, never into a
Python repr such as `b'...'` or `tf.Tensor(...)`.
"""

import numpy as np


def token_text(token, argument_name="tokens"):
    """Text of one token or string: `str`, `bytes` or a scalar.

    Scalar NumPy arrays and tensors are unwrapped and bytes decoded as
    UTF-8; numbers become their `str`. Sequences (lists, arrays with axes)
    raise instead of being shown as their repr.

    Args:
        token: A `str`, UTF-8 `bytes`, a NumPy scalar, a 0-D array or
            tensor, or a number.
        argument_name: Name of the argument holding `token`, for errors.

    Returns:
        The token's text, a `str`.

    Example:

    ```python
    token_text("müde".encode())  # "müde"
    token_text(np.array("ich"))  # "ich"
    ```
    """
    if isinstance(token, str):
        return token
    if isinstance(token, bytes):
        return token.decode("utf-8", errors="replace")
    if hasattr(token, "numpy") and callable(token.numpy):
        # TensorFlow and (CPU) PyTorch tensors.
        token = token.numpy()
    elif hasattr(token, "__array__") and not isinstance(token, np.generic):
        token = np.asarray(token)
    if isinstance(token, np.ndarray) and token.ndim == 0:
        token = token.item()
    if isinstance(token, np.generic):
        token = token.item()
    if isinstance(token, (str, bytes)):
        return token_text(token, argument_name)
    if isinstance(token, (list, tuple, dict, set, np.ndarray)):
        raise ValueError(
            f"Each entry of `{argument_name}` must be a single string (or "
            f"UTF-8 bytes, or a scalar). Received an entry of type "
            f"{type(token).__name__}: {token!r}"
        )
    return str(token)


def tokens_text(tokens, argument_name="tokens"):
    """Texts of a non-empty sequence of tokens, see `token_text`.

    Args:
        tokens: A sequence (list, tuple, 1-D array or tensor) of tokens; a
            single string is refused.
        argument_name: Name of the argument holding `tokens`, for errors.

    Returns:
        A list of `str`, one per token.

    Example:

    ```python
    tokens_text([b"ich", "bin", 7])  # ["ich", "bin", "7"]
    ```
    """
    if isinstance(tokens, (str, bytes)):
        raise ValueError(
            f"`{argument_name}` must be a sequence of tokens, not a single "
            f"string. Received: {argument_name}={tokens!r}"
        )
    labels = [token_text(token, argument_name) for token in tokens]
    if not labels:
        raise ValueError(
            f"`{argument_name}` must contain at least one token. "
            f"Received: {argument_name}={tokens!r}"
        )
    return labels
