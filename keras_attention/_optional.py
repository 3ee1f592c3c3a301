"""Imports of the optional dependencies, with an install hint on failure.

`keras_attention` needs only Keras and NumPy at import time; plotting needs
Matplotlib, TensorBoard summaries TensorFlow, text scores sacreBLEU,
caption scores also pycocoevalcap (for CIDEr-D) and summary scores
rouge-score.
Each is imported when first used, so that a JAX or PyTorch user who only
wants the layers installs neither.
"""

import importlib

# Module -> the extra of `keras-attention-zoo` that installs it.
_EXTRAS = {
    "matplotlib": "plot",
    "pycocoevalcap": "caption",
    "rouge_score": "summary",
    "sacrebleu": "text",
    "tensorflow": "tensorboard",
}


def import_optional(module_name, feature):
    """Imports `module_name`, or says which extra installs it.

    Args:
        module_name: Dotted module name, e.g. `"matplotlib.figure"`.
        feature: What needs it, for the error message (e.g.
            `"plot_attention"`).

    Returns:
        The imported module.

    Raises:
        ImportError: naming the feature, the missing package and the
            `pip install` command that adds it.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        package = module_name.split(".")[0]
        extra = _EXTRAS.get(package, "zoo")
        raise ImportError(
            f"{feature} needs `{package}`, which is not installed. Install "
            f"it with `pip install 'keras-attention-zoo[{extra}]'` (or "
            f"`pip install {package}`). Received: {error}"
        ) from error
