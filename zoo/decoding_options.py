"""Options that the tasks' commands share: decoding and evaluation.

Each task declares its commands' options (`zoo.commands.Command`); the
options every task words alike are made here, with the task's default.
"""

from zoo.options import Option


def beam_width_option(default, purpose):
    """`--beam-width`, e.g. `beam_width_option(4, "the evaluation")`."""
    return Option(
        "beam_width",
        int,
        default,
        f"Beam width of {purpose}; 1 decodes greedily.",
        positive=True,
    )


def length_penalty_option(default):
    """`--length-penalty`, the GNMT alpha of beam search, with a default."""
    return Option(
        "length_penalty",
        float,
        default,
        "GNMT length normalization alpha of beam search.",
        minimum=0.0,
    )


def max_length_option(what):
    """`--max-length` of an export, e.g. `max_length_option("caption")`."""
    return Option(
        "max_length",
        int,
        None,
        f"Longest {what} in tokens, the end token not counted (default: "
        "the model's).",
        positive=True,
    )


def max_examples_option(help_text):
    """`--max-examples` of an evaluation."""
    return Option("max_examples", int, None, help_text, positive=True)


SEED_OPTION = Option(
    "seed", int, 0, "Seed of the data split, as given to train."
)
