"""The translation task's commands: evaluate, translate and export.

Declared once (`COMMANDS`, taken by `TranslationTask.commands`): the
command line (`keras-attention-zoo evaluate|translate|export`) and
`zoo.commands.run_command` derive from these declarations.
"""

from zoo.commands import Argument
from zoo.commands import Command
from zoo.decoding_options import SEED_OPTION
from zoo.decoding_options import beam_width_option
from zoo.decoding_options import max_examples_option
from zoo.decoding_options import max_length_option
from zoo.inputs import command_texts
from zoo.translation.options import BEAM_WIDTH
from zoo.translation.options import DATA_OPTIONS

EVALUATE_OPTIONS = DATA_OPTIONS + (
    beam_width_option(
        BEAM_WIDTH, "the evaluation's beam search (greedy is reported too)"
    ),
    max_examples_option(
        "As given to train (for the embedded dates the test dates follow "
        "the training dates, so another value evaluates on other dates, "
        "possibly ones the model was trained on)."
    ),
    SEED_OPTION,
)

TRANSLATE_OPTIONS = (beam_width_option(BEAM_WIDTH, "the translations"),)

EXPORT_OPTIONS = (
    beam_width_option(BEAM_WIDTH, "the exported decoder"),
    max_length_option("translation"),
)


def evaluate_translator(model, config):
    """Prints the test scores of a translation model (`evaluate MODEL`).

    Returns:
        A dict from beam width to its scores (`exact_match`, `bleu`).
    """
    from zoo.data import load_translation_data
    from zoo.translation.decoding import translate_pairs
    from zoo.translation.scoring import bleu_by_source_length
    from zoo.translation.scoring import date_attention_correctness
    from zoo.translation.scoring import score_translations
    from zoo.translation.task import SCORING
    from zoo.translation.task import print_attention_correctness
    from zoo.translation.task import print_bleu_by_length

    dates = config.data is None
    splits = load_translation_data(
        **{
            option.name: getattr(config, option.name) for option in DATA_OPTIONS
        },
        max_examples=config.max_examples,
        seed=config.seed,
        return_alignment=dates,
    )
    pairs = [(example[0], example[1]) for example in splits["test"]]
    sources = [source for source, _ in pairs]
    references = [target for _, target in pairs]
    print(f"test scores ({SCORING}):")
    results = {}
    for beam_width in sorted({1, config.beam_width}):
        hypotheses, attention, token_ids = translate_pairs(
            model, pairs, beam_width=beam_width
        )
        scores = score_translations(hypotheses, references)
        results[beam_width] = scores
        print(
            f"beam {beam_width}: exact match {scores['exact_match']:.1%}, "
            f"BLEU {scores['bleu']:.1f} ({len(pairs)} sentences)"
        )
        if dates:
            print_attention_correctness(
                date_attention_correctness(
                    model,
                    sources,
                    [alignment for _, _, alignment in splits["test"]],
                    attention,
                    token_ids,
                )
            )
        print_bleu_by_length(
            bleu_by_source_length(sources, hypotheses, references)
        )
    return results


def translate_texts(model, config):
    """Prints the translation of each text (or stdin line).

    Returns:
        The translations.
    """
    texts = command_texts(config.texts, "TEXT")
    translations = model.translate(texts, beam_width=config.beam_width)
    for text in translations:
        print(text)
    return translations


def export_translator(model, config):
    """Writes the SavedModel of `export MODEL OUTPUT_DIR`; returns its path."""
    from zoo.translation.export import export_saved_model

    path = export_saved_model(
        model,
        config.output_dir,
        beam_width=config.beam_width,
        max_length=config.max_length,
    )
    print(f"SavedModel written to {path}")
    print(
        "use it (needs only tensorflow and tensorflow_text): import "
        "tensorflow as tf, tensorflow_text; "
        f"tf.saved_model.load({path!r}).signatures['serving_default']"
        "(tf.constant(['9 may 2018']))['translation']"
    )
    return path


OUTPUT_DIR = Argument("output_dir", "folder to write the SavedModel to")

COMMANDS = (
    Command(
        "evaluate",
        help="score a saved model on its task's test split",
        run=evaluate_translator,
        options=EVALUATE_OPTIONS,
        description="Prints the exact match and corpus BLEU of the test "
        "split, both on lowercased text tokenized with sacreBLEU's 13a "
        "tokenizer ('Wait!' matches 'wait !'), BLEU by source length and, "
        "for the embedded dates, attention correctness: the attention "
        "mass each output token of the year, month and day puts on the "
        "source tokens of its field; greedy and with beam search.",
    ),
    Command(
        "translate",
        help="translate text",
        run=translate_texts,
        arguments=(
            Argument(
                "texts",
                "sentences (default: read stdin lines)",
                nargs="*",
                metavar="TEXT",
            ),
        ),
        options=TRANSLATE_OPTIONS,
        description="Prints the translation of each TEXT, or of each line "
        "of stdin.",
    ),
    Command(
        "export",
        help="write a TensorFlow SavedModel of a saved model (raw strings "
        "or encoded images in, text and attention out)",
        run=export_translator,
        arguments=(OUTPUT_DIR,),
        options=EXPORT_OPTIONS,
        description="Writes a SavedModel that maps raw strings to "
        "translations and attention (needs only tensorflow and "
        "tensorflow_text).",
    ),
)
