"""The options of the translation task, declared once.

`keras-attention-zoo train translation` (flags and `--help`),
`train_translation(...)` and `zoo.trainer.train("translation", ...)`
(keyword checks and docstrings) all come from `OPTIONS`.
"""

from zoo.options import Option

ARCHITECTURE_NAMES = ("bahdanau", "luong", "transformer")

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
        "Overrides of the architecture's constructor arguments, JSON on "
        "the command line, e.g. '{\"units\": 256}'.",
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
