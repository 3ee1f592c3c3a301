"""The translation task of the zoo: what it gives `zoo.trainer.train`.

Data (the embedded dates or parallel text), WordPiece vocabularies and
bucketed `tf.data` pipelines, the `bahdanau`/`luong`/`transformer`
models with their loss and optimizer, the `AttentionSummary` samples
(with the dates' reference alignments), and the evaluation: exact match
and BLEU for greedy and beam-4 decoding, BLEU by source length, the
dates' attention correctness and sample translations.
"""

import pathlib
import time

from zoo.data import date_links
from zoo.data import load_translation_data
from zoo.fingerprints import text_fingerprint
from zoo.text import make_translation_dataset
from zoo.trainer import Task
from zoo.trainer import TrainingData
from zoo.trainer import training_summary
from zoo.translation import ARCHITECTURES
from zoo.translation import Seq2Seq
from zoo.translation.commands import COMMANDS
from zoo.translation.decoding import compile_decoder
from zoo.translation.decoding import translate_pairs
from zoo.translation.losses import MaskedSparseCrossentropy
from zoo.translation.losses import masked_accuracy
from zoo.translation.options import BEAM_WIDTH
from zoo.translation.options import OPTIONS
from zoo.translation.options import check_model_arguments
from zoo.translation.scoring import bleu_by_source_length
from zoo.translation.scoring import date_attention_correctness
from zoo.translation.scoring import score_translations
from zoo.translation.summaries import attention_decode_fn
from zoo.translation.summaries import length_spread
from zoo.translation.training import DEFAULT_MODEL_ARGUMENTS
from zoo.translation.training import _learn_or_reuse_tokenizers
from zoo.translation.training import _optimizer
from zoo.translation.training import length_buckets

# How the printed exact match and BLEU compare texts
# (`keras_attention.metrics.text_scores`).
SCORING = "lowercased, sacreBLEU 13a tokenization"


class TranslationTask(Task):
    """Sequence-to-sequence translation with the zoo's attention models.

    Trains on the embedded dates ("saturday, 9 may 2018" -> "2018-05-09")
    unless `data` names parallel text. On the dates the evaluation also
    scores attention correctness, the attention mass each output field
    puts on the source tokens it comes from.

    A run is defined by its architecture, its model arguments (with the
    architecture's defaults), fingerprints of its data splits and of its
    vocabularies, and the seed: a rerun in the same logdir with another
    of these is refused rather than resumed.

    Args:
        config: The resolved options (`OPTIONS` and the trainer's);
            `epochs`, `max_source_length` and `max_target_length` left
            `None` get their defaults for the data here.

    Raises:
        ValueError: For model arguments the architecture does not take,
            or of the wrong type, before any data is read.
    """

    description = (
        "Trains a translation model, saves it and evaluates it on the "
        "test split like `evaluate`: exact match and BLEU on lowercased "
        "text tokenized with sacreBLEU's 13a tokenizer, for greedy and "
        "beam-4 decoding, and attention correctness on the embedded dates."
    )
    options = OPTIONS
    model_class = Seq2Seq
    commands = COMMANDS

    def __init__(self, config):
        super().__init__(config)
        check_model_arguments(config.arch, config.model_arguments)
        self.dates = config.data is None
        config.epochs = config.epochs or (6 if self.dates else 10)
        config.max_source_length = config.max_source_length or (
            24 if self.dates else 40
        )
        config.max_target_length = config.max_target_length or (
            14 if self.dates else 40
        )
        self.model_arguments = {
            **DEFAULT_MODEL_ARGUMENTS[config.arch],
            **(config.model_arguments or {}),
        }

    def definition(self):
        """The architecture and its arguments; data comes with `load_data`."""
        return {
            "arch": self.config.arch,
            "model_arguments": self.model_arguments,
        }

    def load_data(self):
        config = self.config
        splits = load_translation_data(
            config.data,
            valid=config.valid,
            test=config.test,
            source_lang=config.source_lang,
            target_lang=config.target_lang,
            source_column=config.source_column,
            target_column=config.target_column,
            max_examples=config.max_examples,
            seed=config.seed,
            return_alignment=self.dates,
        )
        self.alignments = {}
        if self.dates:
            # The dates' splits share no source, so sources are keys. Only
            # validation (summaries) and test (evaluation) dates need them.
            self.alignments = {
                source: alignment
                for split in ("valid", "test")
                for source, _, alignment in splits[split]
            }
            splits = {
                name: [(source, target) for source, target, _ in pairs]
                for name, pairs in splits.items()
            }
        self.splits = splits
        # Before the vocabularies, which may take minutes to learn.
        self.define(data_fingerprint=text_fingerprint(splits))
        self.source_tokenizer, self.target_tokenizer = (
            _learn_or_reuse_tokenizers(
                splits["train"],
                pathlib.Path(
                    config.vocabulary_dir or config.logdir / "vocabulary"
                ),
                config.vocabulary_size,
                config.max_source_length,
                config.verbose,
            )
        )
        self.define(
            vocabulary_fingerprint=text_fingerprint(
                {
                    "source": self.source_tokenizer.get_vocabulary(),
                    "target": self.target_tokenizer.get_vocabulary(),
                }
            )
        )
        return TrainingData(
            train=self._dataset(splits["train"], shuffle=True),
            valid=self._dataset(splits["valid"], shuffle=False),
            num_examples=len(splits["train"]),
        )

    def _dataset(self, pairs, shuffle):
        config = self.config
        return make_translation_dataset(
            pairs,
            self.source_tokenizer,
            self.target_tokenizer,
            config.batch_size,
            config.max_source_length,
            config.max_target_length,
            shuffle=shuffle,
            seed=config.seed,
            bucket_boundaries=length_buckets(
                config.max_source_length, config.max_target_length
            ),
        )

    def build_model(self):
        return ARCHITECTURES[self.config.arch](
            self.source_tokenizer.vocabulary_size,
            self.target_tokenizer.vocabulary_size,
            source_tokenizer=self.source_tokenizer,
            target_tokenizer=self.target_tokenizer,
            max_decode_length=self.config.max_target_length,
            **self.model_arguments,
        )

    def optimizer(self):
        config = self.config
        return _optimizer(
            config.arch,
            self.model_arguments,
            config.learning_rate,
            len(self.splits["train"]),
            config.batch_size,
            time_budget=config.max_minutes is not None,
        )

    def loss(self):
        return MaskedSparseCrossentropy(self.config.label_smoothing)

    def metrics(self):
        return [masked_accuracy]

    def attention_summary(self, model):
        """Validation sources spread over their lengths, with alignments.

        For the dates each sample carries its reference alignment, so
        TensorBoard also shows attention correctness and outlines the
        reference cells.
        """
        valid_pairs = self.splits["valid"]
        summary_pairs = [
            valid_pairs[index]
            for index in length_spread(
                [source for source, _ in valid_pairs],
                self.config.num_summary_samples,
                self.config.seed,
            )
        ]

        def links(source, hypothesis):
            if source not in self.alignments:
                return None
            return list(
                date_links(self.alignments[source], hypothesis).values()
            )

        return {
            "decode_fn": attention_decode_fn(model, links=links),
            "samples": [source for source, _ in summary_pairs],
            "references": [target for _, target in summary_pairs],
            "metric": "exact_match" if self.dates else "bleu",
        }

    def evaluate(self, model):
        """Test scores of greedy and beam-4 decoding, and sample outputs.

        On the test split, or its first `max_eval_pairs` pairs if set.

        Returns:
            A dict with `"arch"`; `"greedy"` and `"beam4"`, each with the
            exact match and BLEU of `score_translations`, BLEU by source
            length, decoded sentences per second and, for the dates, the
            attention correctness of `date_attention_correctness`; and
            `"samples"`, five greedy translations spread over the source
            lengths.
        """
        test_pairs = self.splits["test"][: self.config.max_eval_pairs]
        sources = [source for source, _ in test_pairs]
        references = [target for _, target in test_pairs]
        results = {"arch": self.config.arch}
        for name, beam_width in (
            ("greedy", 1),
            (f"beam{BEAM_WIDTH}", BEAM_WIDTH),
        ):
            results[name], hypotheses = self._decode_and_score(
                model, test_pairs, beam_width
            )
            if name == "greedy":
                greedy = hypotheses
        results["samples"] = [
            {
                "source": sources[index],
                "reference": references[index],
                "hypothesis": greedy[index],
            }
            for index in length_spread(sources, 5, self.config.seed)
        ]
        return results

    def _decode_and_score(self, model, pairs, beam_width):
        sources = [source for source, _ in pairs]
        references = [target for _, target in pairs]
        # Compiling is not timed: the batches' source widths compile first.
        compile_decoder(model, pairs, beam_width=beam_width)
        start = time.perf_counter()
        hypotheses, attention, token_ids = translate_pairs(
            model, pairs, beam_width=beam_width
        )
        decode_seconds = time.perf_counter() - start
        scores = {
            **score_translations(hypotheses, references),
            "bleu_by_source_length": bleu_by_source_length(
                sources, hypotheses, references
            ),
            "sentences_per_second": len(pairs) / decode_seconds,
        }
        if self.dates:
            scores.update(
                date_attention_correctness(
                    model,
                    sources,
                    [self.alignments[source] for source in sources],
                    attention,
                    token_ids,
                )
            )
        return scores, hypotheses

    @classmethod
    def print_results(cls, results):
        """Prints the test scores, training speed and sample translations."""
        print(f"test scores ({SCORING}):")
        for name in ("greedy", f"beam{BEAM_WIDTH}"):
            scores = results[name]
            print(
                f"test {name}: exact match {scores['exact_match']:.1%}, "
                f"BLEU {scores['bleu']:.1f}, "
                f"{scores['sentences_per_second']:.0f} sentences/s"
            )
            print_attention_correctness(scores)
        print_bleu_by_length(results["greedy"]["bleu_by_source_length"])
        print(training_summary(results))
        print_samples(results["samples"])


def print_samples(samples):
    """Prints sample translations, with the reference of wrong ones."""
    print("sample translations (source -> translation):")
    for sample in samples:
        line = f"  {sample['source']} -> {sample['hypothesis']}"
        scores = score_translations(
            [sample["hypothesis"]], [sample["reference"]]
        )
        if not scores["exact_match"]:
            line += f"  (reference: {sample['reference']})"
        print(line)


def _format_correctness(values):
    if values["all"] is None:
        return "n/a (no translation has a field where ISO puts it)"

    def number(value):
        return "n/a" if value is None else f"{value:.2f}"

    fields = ", ".join(
        f"{field} {number(value)}"
        for field, value in values.items()
        if field != "all"
    )
    return f"{number(values['all'])} ({fields})"


def print_attention_correctness(scores):
    """Prints the dates' attention correctness, per head when there are."""
    if "attention_correctness" not in scores:
        return
    mean = _format_correctness(scores["attention_correctness"])
    if "attention_correctness_best_head" not in scores:
        print(f"  attention correctness {mean}")
        return
    best = _format_correctness(scores["attention_correctness_best_head"])
    print(f"  attention correctness, mean over heads: {mean}")
    print(f"  attention correctness, best head:       {best}")


def print_bleu_by_length(buckets):
    """Prints the BLEU of each source-length bucket on one line."""
    print(
        "  BLEU by source length in words (sentences): "
        + ", ".join(
            f"{bucket['lengths']}: {bucket['bleu']:.1f} ({bucket['sentences']})"
            for bucket in buckets
        )
    )
