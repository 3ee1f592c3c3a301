"""The options of the summarization task, declared once.

`keras-attention-zoo train summarization` (flags and `--help`) and
`zoo.trainer.train("summarization", ...)` (keyword checks) come from
`OPTIONS`; `evaluate` reuses `DATA_OPTIONS` and `DECODING_OPTIONS`,
`summarize` and `export` the length penalty and n-gram blocking.
"""

from zoo.decoding_options import beam_width_option
from zoo.decoding_options import length_penalty_option
from zoo.options import Option
from zoo.summarization.model import ARCHITECTURES
from zoo.summarization.model import POINTER_GENERATOR

DATA_OPTIONS = (
    Option(
        "data",
        str,
        None,
        "Documents with summaries: a DialogSum folder, a JSON lines, CSV "
        "or TSV file (see --text-column, --summary-column), or a BBC News "
        "Summary folder (News Articles/ beside Summaries/); local path or "
        "URL. Default: generated reports about invented people, places "
        "and organisations, whose test names never occur in training.",
    ),
    Option(
        "text_column",
        str,
        "text",
        "The document's column (field) of a JSON lines, CSV or TSV file.",
    ),
    Option(
        "summary_column",
        str,
        "summary",
        "The summary's column of a JSON lines, CSV or TSV file (a list "
        "value in JSON lines gives several references).",
    ),
)

# One beam search for every command: what training reports, `evaluate`
# scores, `summarize` prints and `export` serves by default.
BEAM_WIDTH = 4
LENGTH_PENALTY_OPTION = length_penalty_option(1.0)

NO_REPEAT_NGRAM_SIZE_OPTION = Option(
    "no_repeat_ngram_size",
    int,
    0,
    "Forbid the decoders to repeat an n-gram of this size (3: the "
    "trigram blocking of Paulus et al. 2017); 0 allows repeats.",
    minimum=0,
)

DECODING_OPTIONS = (
    beam_width_option(
        BEAM_WIDTH, "the evaluation's beam search (greedy is reported too)"
    ),
    LENGTH_PENALTY_OPTION,
    NO_REPEAT_NGRAM_SIZE_OPTION,
)

OPTIONS = (
    DATA_OPTIONS
    + (
        Option(
            "arch",
            str,
            POINTER_GENERATOR,
            "pointer-generator (copies source words, See et al. 2017) or "
            "seq2seq (the attention baseline, which cannot copy).",
            choices=ARCHITECTURES,
        ),
        Option(
            "coverage",
            bool,
            None,
            "Coverage (See et al. eqs. 10-13): the attention sees what it "
            "has attended to so far, and a loss penalizes attending twice. "
            "Default: on for the generated reports, off for --data.",
        ),
        Option(
            "coverage_weight",
            float,
            1.0,
            "Lambda of the coverage loss (eq. 13).",
            minimum=0.0,
        ),
        Option(
            "coverage_from_epoch",
            int,
            0,
            "The coverage loss is added from this (0-based) epoch on: the "
            "paper trains the pointer-generator first and adds coverage "
            "for a final phase.",
            minimum=0,
        ),
        Option(
            "embedding_dim",
            int,
            None,
            "Word embedding size; default 128, 64 for the reports.",
            positive=True,
        ),
        Option(
            "units",
            int,
            None,
            "LSTM size (each encoder direction and the decoder); default "
            "256, 128 for the reports.",
            positive=True,
        ),
        Option(
            "attention_units",
            int,
            None,
            "Hidden size of the attention MLP; default: units.",
            positive=True,
        ),
        Option(
            "max_source_length",
            int,
            None,
            "Source tokens read; longer documents are cut (and counted). "
            "Default 400, 96 for the reports.",
            positive=True,
        ),
        Option(
            "max_summary_length",
            int,
            None,
            "Longest summary in tokens (longer references are cut, and "
            "counted). Default 64, 24 for the reports.",
            positive=True,
        ),
        Option(
            "vocabulary_size",
            int,
            20000,
            "Most frequent training words kept (special tokens included); "
            "the others are out of vocabulary, which only the "
            "pointer-generator can produce.",
            positive=True,
        ),
        Option(
            "min_word_count",
            int,
            1,
            "Words seen fewer times in training are out of vocabulary.",
            positive=True,
        ),
        Option(
            "keep_case",
            bool,
            False,
            "Keep upper case (default: lowercase all text).",
        ),
        Option(
            "keep_punctuation_attached",
            bool,
            False,
            "Split on white space only (default: punctuation marks are "
            "tokens of their own).",
        ),
        Option(
            "num_reports",
            int,
            6000,
            "Generated training reports (without --data).",
            positive=True,
        ),
        Option(
            "lead_words",
            int,
            30,
            "Words of the lead baseline (the document's first words), "
            "reported beside the model.",
            positive=True,
        ),
        Option(
            "max_eval_documents",
            int,
            None,
            "Evaluate on the first N test documents only; default: all.",
            positive=True,
        ),
    )
    + DECODING_OPTIONS
    + (
        Option(
            "epochs",
            int,
            None,
            "Maximum number of epochs; default 20, 40 for the reports.",
            positive=True,
        ),
        Option(
            "max_minutes",
            float,
            None,
            "Training time budget in minutes (see the trainer's); default "
            "3.5 for the reports, none for --data.",
            positive=True,
        ),
        Option(
            "learning_rate",
            float,
            None,
            "Adam's learning rate; default 1e-3, 3e-3 for the reports.",
            positive=True,
        ),
        Option(
            "batch_size",
            int,
            None,
            "Documents per batch; default 16, 32 for the reports.",
            positive=True,
        ),
    )
)
