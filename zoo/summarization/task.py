"""The summarization task of the zoo: what it gives `zoo.trainer.train`.

Data (generated reports, DialogSum, JSON lines / CSV / TSV files or a BBC
News Summary folder), the word vocabulary of the training documents, the
`tf.data` batches, the pointer-generator (or baseline) model with
coverage, the `AttentionSummary` samples (attention with `p_gen` per
generated word, final coverage, copied words marked, ROUGE) and the
evaluation: ROUGE-1/2/L against the best reference, the repetition rate
and, on the generated reports, the share of unseen names copied, greedy
and with beam search, beside the lead baseline.
"""

import keras

from zoo.fingerprints import fingerprint
from zoo.summarization import inference
from zoo.summarization.commands import COMMANDS
from zoo.summarization.commands import HEATMAP_SOURCE_TOKENS
from zoo.summarization.data import encode_examples
from zoo.summarization.data import make_dataset
from zoo.summarization.model import Summarizer
from zoo.summarization.options import OPTIONS
from zoo.trainer import Task
from zoo.trainer import TrainingData
from zoo.trainer import training_summary

SCORING = "ROUGE F1 with stemming (rouge-score), best reference"
# Model settings for the generated reports (short documents, a small
# model that learns to copy within the default job's budget) and for real
# data (See et al.'s sizes halved for CPUs).
MODEL_DEFAULTS = {
    "reports": {
        "embedding_dim": 64,
        "units": 128,
        "max_source_length": 96,
        "max_summary_length": 24,
        "epochs": 40,
        "max_minutes": 3.5,
        "learning_rate": 3e-3,
        "batch_size": 32,
        "coverage": True,
    },
    "data": {
        "embedding_dim": 128,
        "units": 256,
        "max_source_length": 400,
        "max_summary_length": 64,
        "epochs": 20,
        "max_minutes": None,
        "learning_rate": 1e-3,
        "batch_size": 16,
        "coverage": False,
    },
}


class SummarizationTask(Task):
    """Abstractive summarization with a pointer-generator and coverage.

    Trains on generated reports unless `data` names documents with
    summaries.

    Args:
        config: The resolved options (`OPTIONS` and the trainer's); the
            settings left `None` get the defaults of the data kind
            (`MODEL_DEFAULTS`).
    """

    description = (
        "Trains an abstractive summarizer (See et al. 2017: a "
        "pointer-generator with coverage, or the attention baseline), "
        "saves it and evaluates it like `evaluate`: ROUGE-1/2/L F1 against "
        "the best reference, the repetition rate and, on the generated "
        "reports, the share of unseen names copied, greedy and with beam "
        "search, beside the lead baseline."
    )
    options = OPTIONS
    model_class = Summarizer
    commands = COMMANDS

    def __init__(self, config):
        super().__init__(config)
        self.reports = config.data is None
        defaults = MODEL_DEFAULTS["reports" if self.reports else "data"]
        for name, value in defaults.items():
            if getattr(config, name) is None:
                setattr(config, name, value)
        if config.coverage_from_epoch and not config.coverage:
            raise ValueError(
                "--coverage-from-epoch needs coverage (--coverage). "
                f"Received: coverage_from_epoch={config.coverage_from_epoch}"
            )

    def definition(self):
        config = self.config
        return {
            "model": self._model_settings(),
            "coverage_from_epoch": config.coverage_from_epoch,
            "data": {
                "data": config.data,
                "text_column": config.text_column,
                "summary_column": config.summary_column,
                "num_reports": config.num_reports if self.reports else None,
                "vocabulary_size": config.vocabulary_size,
                "min_word_count": config.min_word_count,
            },
        }

    def _model_settings(self):
        config = self.config
        return {
            "arch": config.arch,
            "coverage": bool(config.coverage),
            "coverage_weight": config.coverage_weight,
            "embedding_dim": config.embedding_dim,
            "units": config.units,
            "attention_units": config.attention_units,
            "max_source_length": config.max_source_length,
            "max_summary_length": config.max_summary_length,
            "lowercase": not config.keep_case,
            "split_punctuation": not config.keep_punctuation_attached,
        }

    def load_data(self):
        from zoo.text.word_vocabulary import WordVocabulary

        config = self.config
        self.splits, self.names = load_splits(
            config.data,
            config.text_column,
            config.summary_column,
            config.seed,
            config.num_reports,
        )
        self.define(data_fingerprint=_fingerprint(self.splits))
        settings = self._model_settings()
        self.vocabulary = WordVocabulary.build(
            [example.text for example in self.splits["train"]]
            + [example.references[0] for example in self.splits["train"]],
            max_size=config.vocabulary_size,
            min_count=config.min_word_count,
            lowercase=settings["lowercase"],
            split_punctuation=settings["split_punctuation"],
        )
        self.define(vocabulary_fingerprint=_fingerprint(self.vocabulary.words))
        encoded = {
            name: encode_examples(
                self.vocabulary,
                self.splits[name],
                config.max_source_length,
                config.max_summary_length,
            )
            for name in ("train", "valid")
        }
        train = encoded["train"]
        if config.verbose and (
            train.num_truncated_sources or train.num_truncated_summaries
        ):
            print(
                f"{train.num_truncated_sources:,} training documents longer "
                f"than {config.max_source_length} tokens and "
                f"{train.num_truncated_summaries:,} summaries longer than "
                f"{config.max_summary_length} tokens were cut"
            )
        return TrainingData(
            train=make_dataset(
                train, config.batch_size, shuffle=True, seed=config.seed
            ),
            valid=make_dataset(
                encoded["valid"], config.batch_size, shuffle=False, seed=0
            ),
            num_examples=len(train),
        )

    def build_model(self):
        return Summarizer(self.vocabulary.words, **self._model_settings())

    def optimizer(self):
        # Gradient clipping as in the authors' code (norm 2).
        return keras.optimizers.Adam(self.config.learning_rate, clipnorm=2.0)

    def loss(self):
        # `Summarizer.compute_loss` holds the whole objective.
        return None

    def callbacks(self):
        """The coverage phase, when coverage starts after epoch 0."""
        if not self.config.coverage or not self.config.coverage_from_epoch:
            return []
        return [
            CoveragePhase(
                self.config.coverage_from_epoch, self.config.coverage_weight
            )
        ]

    def attention_summary(self, model):
        """Validation documents with attention, p_gen, coverage and copies."""
        split = self.splits["valid"]
        count = min(self.config.num_summary_samples, len(split))
        samples = split[:count]
        metrics = [rouge_1, rouge_2, rouge_l, repetition]
        if self.names is not None:
            metrics.append(_copy_rate_metric(self.names["valid"][:count]))
        return {
            "decode_fn": summary_decode_fn(model),
            "samples": samples,
            "references": [list(example.references) for example in samples],
            "metric": metrics,
            "max_source_tokens": HEATMAP_SOURCE_TOKENS,
        }

    def evaluate(self, model):
        """Greedy and beam-search scores on the test documents.

        Returns:
            A dict with `"greedy"` and `f"beam{beam_width}"` (the scores of
            `inference.evaluate_examples`), `"lead3"` (the ROUGE of the
            first three sentences cut to `"lead3_words"`, the model's
            summary length), `"lead"` (of the first `"lead_words"`
            words), `"reference_repetition"`, `"samples"` (three greedy
            summaries with their documents and references),
            `"vocabulary_size"`, `"num_truncated_documents"` and
            `"scoring"`.
        """
        config = self.config
        examples = self.splits["test"]
        names = None if self.names is None else self.names["test"]
        if config.max_eval_documents is not None:
            examples = examples[: config.max_eval_documents]
            names = None if names is None else names[: len(examples)]
        results = {
            "scoring": SCORING,
            "vocabulary_size": self.vocabulary.size,
            "lead3": inference.lead3_scores(examples, model.max_summary_length),
            "lead3_words": model.max_summary_length,
            "lead": inference.lead_scores(examples, config.lead_words),
            "lead_words": config.lead_words,
            "reference_repetition": inference.reference_repetition(examples),
        }
        for name, beam_width in (
            ("greedy", 1),
            (f"beam{config.beam_width}", config.beam_width),
        ):
            results[name], summaries = inference.evaluate_examples(
                model,
                examples,
                beam_width=beam_width,
                length_penalty=config.length_penalty if beam_width > 1 else 0,
                no_repeat_ngram_size=config.no_repeat_ngram_size,
                names=names,
            )
            if name == "greedy":
                greedy = summaries
        results["samples"] = [
            {
                "document": examples[index].text,
                "summary": greedy[index],
                "references": list(examples[index].references),
            }
            for index in range(min(3, len(examples)))
        ]
        return results

    @classmethod
    def print_results(cls, results):
        """Prints ROUGE, copy and repetition rates, speed and samples."""
        print(f"test scores ({SCORING}):")
        print(
            format_baselines(
                results["lead3"],
                results["lead3_words"],
                results["lead"],
                results["lead_words"],
            )
        )
        for name, scores in results.items():
            if name == "greedy" or name.startswith("beam"):
                print(format_scores(name, scores))
        print(
            "repetition rate of the references: "
            f"{results['reference_repetition']:.1f}%"
        )
        print(training_summary(results).replace("pairs/s", "documents/s"))
        print("sample summaries (greedy):")
        for sample in results["samples"]:
            print(f"  document: {_shorten(sample['document'])}")
            print(f"  summary: {sample['summary']}")
            print(f"  reference: {sample['references'][0]}")


def format_baselines(lead3, lead3_words, lead, lead_words):
    """The lead baselines' lines: lead-3 at the summaries' length, lead-N."""

    def rouge(scores):
        return (
            f"ROUGE-1/2/L {scores['rouge1']:.1f}/{scores['rouge2']:.1f}/"
            f"{scores['rougeL']:.1f}"
        )

    return (
        f"lead-3 sentences (at most {lead3_words} words, the summaries' "
        f"limit): {rouge(lead3)}\nlead-{lead_words}: {rouge(lead)}"
    )


def format_scores(name, scores):
    """One line of a decoding's scores, as the command line prints it."""
    line = (
        f"{name}: ROUGE-1/2/L {scores['rouge1']:.1f}/{scores['rouge2']:.1f}/"
        f"{scores['rougeL']:.1f}, repetition {scores['repetition']:.1f}%, "
        f"at length limit {scores['length_limit_share']:.1%}"
    )
    if scores.get("name_copy_rate") is not None:
        line += f", unseen names copied {scores['name_copy_rate']:.1%}"
    return line + f" ({scores['num_documents']} documents)"


def _shorten(text, limit=160):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CoveragePhase(keras.callbacks.Callback):
    """Switches the coverage loss on from epoch `start_epoch` (0-based).

    See et al. train the pointer-generator first and add coverage for a
    final phase; the weight is set at the start of every epoch from its
    number, so a resumed run gets the weight of its epoch.
    """

    def __init__(self, start_epoch, weight):
        super().__init__()
        self.start_epoch = start_epoch
        self.weight = weight

    def on_epoch_begin(self, epoch, logs=None):
        value = self.weight if epoch >= self.start_epoch else 0.0
        self.model.coverage_weight.assign(value)

    def on_train_end(self, logs=None):
        self.model.coverage_weight.assign(self.weight)


def rouge_1(hypotheses, references):
    """ROUGE-1 F1 against the best reference (`summary_scores`)."""
    from keras_attention.metrics import summary_scores

    return summary_scores(hypotheses, references)["rouge1"]


def rouge_2(hypotheses, references):
    """ROUGE-2 F1 against the best reference (`summary_scores`)."""
    from keras_attention.metrics import summary_scores

    return summary_scores(hypotheses, references)["rouge2"]


def rouge_l(hypotheses, references):
    """ROUGE-L F1 against the best reference (`summary_scores`)."""
    from keras_attention.metrics import summary_scores

    return summary_scores(hypotheses, references)["rougeL"]


def repetition(hypotheses, references):
    """Share of duplicated trigrams in the summaries, in percent."""
    from keras_attention.metrics import repetition_rate

    return repetition_rate(hypotheses)


def _copy_rate_metric(names):
    def copy_rate(hypotheses, references):
        rate = inference.name_copy_rate(hypotheses, names)
        return float("nan") if rate is None else rate

    return copy_rate


def summary_decode_fn(model):
    """`AttentionSummary`'s `decode_fn`: attention, p_gen, coverage, copies."""

    def decode(examples):
        summaries = inference.summarize_texts(
            model, [example.text for example in examples]
        )
        samples = []
        for summary in summaries:
            sample = {
                "source_tokens": summary["source_tokens"],
                "output_tokens": summary["tokens"],
                "attention": summary["attention"],
                "hypothesis": summary["summary"],
                "source_values": {"coverage": summary["coverage"]},
            }
            if model.copies:
                sample["output_values"] = {"p_gen": summary["p_gen"]}
                sample["marked_outputs"] = summary["copied"]
            samples.append(sample)
        return samples

    return decode


def load_splits(data, text_column, summary_column, seed, num_reports=1):
    """The splits of `SummaryExample`s, and the report names (or `None`).

    Args:
        data: The `--data` of `train summarization`; `None` for the
            generated reports.
        text_column: The document column of a table.
        summary_column: The summary column of a table.
        seed: Seed of the split (and of the generated reports).
        num_reports: Generated training reports (their test reports are
            the same for any number).
    """
    from zoo.data.summaries import SummaryExample
    from zoo.data.summaries import load_summarization_data

    if data is None:
        from zoo.data.reports import generate_reports

        reports = generate_reports(num_train=num_reports, seed=seed)
        splits = {
            name: [
                SummaryExample(report.text, (report.summary,))
                for report in split
            ]
            for name, split in reports.items()
        }
        names = {
            name: [list(report.names) for report in split]
            for name, split in reports.items()
        }
        return splits, names
    splits = load_summarization_data(
        data,
        text_column=text_column,
        summary_column=summary_column,
        seed=seed,
    )
    splits = {name: splits[name] for name in ("train", "valid", "test")}
    sizes = {name: len(split) for name, split in splits.items()}
    if not all(sizes.values()):
        raise ValueError(
            f"--data {data}: expected documents with summaries in the "
            f"train, valid and test splits, received {sizes}"
        )
    return splits, None


def _fingerprint(value):
    """A short SHA-256 of the documents and summaries (or a word list)."""
    if isinstance(value, dict):
        value = {
            name: [
                [example.text, list(example.references)] for example in split
            ]
            for name, split in sorted(value.items())
        }
    return fingerprint(value)
