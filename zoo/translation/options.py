"""The options of the translation task, declared once.

`keras-attention-zoo train translation` (flags and `--help`),
`train_translation(...)` and `zoo.trainer.train("translation", ...)`
(keyword checks and docstrings) all come from `OPTIONS`; the model
arguments `--model-args` may override, per architecture, from
`MODEL_ARGUMENTS`.
"""

from zoo.options import Option
from zoo.options import resolve

ARCHITECTURE_NAMES = ("bahdanau", "luong", "transformer")

_EMBEDDING_DIM = Option(
    "embedding_dim", int, 64, "Size of the word embeddings.", positive=True
)
_DROPOUT = Option(
    "dropout", float, 0.0, "Dropout rate.", minimum=0.0, maximum=0.99
)
_INITIAL_STATE = Option(
    "initial_state",
    str,
    "encoder",
    'Where the decoder starts: "encoder" (its final state) or "zeros".',
    choices=("encoder", "zeros"),
)

# The constructor arguments of each architecture that `--model-args` may
# set, with their types, so that a mistake is named before any data work
# (not as a TypeError from the constructor after the vocabularies are
# learned). The defaults are the constructors'; `tests/zoo/test_training.py`
# checks that the names are the constructors'.
MODEL_ARGUMENTS = {
    "bahdanau": (
        _EMBEDDING_DIM,
        Option(
            "units",
            int,
            128,
            "Size of each encoder direction and of the decoder.",
            positive=True,
        ),
        Option(
            "attention_units",
            int,
            None,
            "Hidden size of the alignment model; default: units.",
            positive=True,
        ),
        _DROPOUT,
        _INITIAL_STATE,
    ),
    "luong": (
        _EMBEDDING_DIM,
        Option("units", int, 128, "Size of every LSTM layer.", positive=True),
        Option("num_layers", int, 2, "LSTM layers.", positive=True),
        Option(
            "score",
            str,
            "general",
            "Attention score.",
            choices=("dot", "general", "concat", "location"),
        ),
        Option(
            "alignment",
            str,
            "global",
            "Global or local attention.",
            choices=("global", "local-m", "local-p"),
        ),
        Option("window", int, 5, "Half width of a local window.", minimum=0),
        Option("input_feeding", bool, True, "Whether to feed h~_{t-1}."),
        _DROPOUT,
        _INITIAL_STATE,
    ),
    "transformer": (
        Option("model_dim", int, 128, "Model width.", positive=True),
        Option("num_heads", int, 4, "Attention heads.", positive=True),
        Option(
            "feed_forward_dim", int, 256, "Feed-forward width.", positive=True
        ),
        Option(
            "num_layers", int, 2, "Encoder and decoder layers.", positive=True
        ),
        Option(
            "max_length",
            int,
            128,
            "Longest sequence the learned positions cover.",
            positive=True,
        ),
        Option(
            "dropout", float, 0.1, "Dropout rate.", minimum=0.0, maximum=0.99
        ),
    ),
}

# Constructor arguments that the task sets from other options.
_SET_BY_OPTIONS = {
    "source_vocabulary_size": "--vocabulary-size",
    "target_vocabulary_size": "--vocabulary-size",
    "source_tokenizer": "the learned vocabularies",
    "target_tokenizer": "the learned vocabularies",
    "max_decode_length": "--max-target-length",
}


def check_model_arguments(arch, arguments):
    """Checks `--model-args` against the architecture's declared arguments.

    Args:
        arch: One of `ARCHITECTURE_NAMES`.
        arguments: A dict of constructor arguments, or `None`.

    Raises:
        ValueError: For a value that is not a dict, an argument the task
            sets from another option, an unknown argument (with the
            closest known name) or a value of the wrong type or range,
            naming it, what was expected and what was received.

    Example:

    >>> check_model_arguments("luong", {"unit": 64})
    Traceback (most recent call last):
    ...
    ValueError: Unknown model argument `unit` of --arch luong (did you \
mean `units`?). Known model arguments: alignment, dropout, embedding_dim, \
initial_state, input_feeding, num_layers, score, units, window.
    """
    if arguments is None:
        return
    if not isinstance(arguments, dict):
        raise ValueError(
            "`model_arguments` (--model-args) must be a dict of constructor "
            f"arguments. Received: model_arguments={arguments!r}"
        )
    for name, option in _SET_BY_OPTIONS.items():
        if name in arguments:
            raise ValueError(
                f"Model argument `{name}` is set by {option}, not by "
                f"--model-args. Received: {name}={arguments[name]!r}"
            )
    resolve(
        MODEL_ARGUMENTS[arch],
        arguments,
        f"--arch {arch}",
        kind="model argument",
    )


def _model_arguments_help():
    names = "; ".join(
        f"{arch}: {', '.join(option.name for option in options)}"
        for arch, options in MODEL_ARGUMENTS.items()
    )
    return (
        "Overrides of the architecture's constructor arguments, JSON on "
        "the command line, e.g. '{\"units\": 256}'; checked before any "
        f"data is read. {names}."
    )


# One beam search for every command: training reports greedy and this
# beam width, `evaluate` scores it, `translate` prints and `export` serves
# it by default.
BEAM_WIDTH = 4

# Where the data comes from; `evaluate` reads the test split with them too.
DATA_OPTIONS = (
    Option(
        "data",
        (str, tuple, list),
        None,
        "Pairs file (.txt/.zip/.tsv[.gz]), a split directory, a "
        "parallel-file prefix or a URL (in Python also a pair of "
        "line-aligned files); default: the embedded dates.",
    ),
    Option(
        "test",
        (str, tuple, list),
        None,
        "Test file; default: the directory's or carved from data.",
    ),
    Option(
        "source_column",
        int,
        0,
        "Source column of tab-separated data (Anki files are "
        "english<TAB>other: use 1 with target_column 0 for X->English).",
        minimum=0,
    ),
    Option(
        "target_column",
        int,
        1,
        "Target column of tab-separated data.",
        minimum=0,
    ),
    Option(
        "source_lang",
        str,
        None,
        'Source suffix of line-aligned files ("de" for train.de.gz).',
    ),
    Option("target_lang", str, None, "Target suffix of line-aligned files."),
)

OPTIONS = (
    Option(
        "arch",
        str,
        "luong",
        "Model architecture.",
        choices=ARCHITECTURE_NAMES,
    ),
    DATA_OPTIONS[0],
    Option(
        "valid",
        (str, tuple, list),
        None,
        "Validation file; default: the directory's or carved from data.",
    ),
    *DATA_OPTIONS[1:],
    Option(
        "max_examples",
        int,
        None,
        "Cap on the training pairs read; for the dates, their number "
        "(default 20,000).",
        positive=True,
    ),
    Option(
        "max_eval_pairs",
        int,
        None,
        "Evaluate on the first N test pairs only (quick runs); default: all.",
        positive=True,
    ),
    Option(
        "vocabulary_size",
        int,
        4000,
        "WordPiece vocabulary size of each language.",
        positive=True,
    ),
    Option(
        "vocabulary_dir",
        str,
        None,
        "Where learned vocabularies are kept and reused by runs with the "
        "same data and size (default: LOGDIR/vocabulary).",
    ),
    Option(
        "max_source_length",
        int,
        None,
        "Source tokens kept (longer inputs are truncated); default: 24 on "
        "the embedded dates, 40 otherwise.",
        positive=True,
    ),
    Option(
        "max_target_length",
        int,
        None,
        "Target tokens kept, and the decoding limit; default: 14 on the "
        "embedded dates, 40 otherwise.",
        positive=True,
    ),
    Option(
        "model_arguments",
        dict,
        None,
        _model_arguments_help(),
        flag="--model-args",
    ),
    Option(
        "label_smoothing",
        float,
        0.0,
        "Label smoothing of the loss.",
        minimum=0.0,
        maximum=1.0,
    ),
    # Trainer options whose default depends on the data or architecture.
    Option(
        "epochs",
        int,
        None,
        "Maximum number of epochs; early stopping may end sooner. "
        "Default: 6 on the embedded dates, 10 otherwise.",
        positive=True,
    ),
    Option(
        "learning_rate",
        float,
        None,
        "Adam learning rate; default: 3e-3 for the RNNs; for the "
        "Transformer, the settings and warm-up schedule of Vaswani et al. "
        "(over two epochs, 400 to 4,000 steps), or a constant 5e-4 under "
        "max_minutes.",
        positive=True,
    ),
)
