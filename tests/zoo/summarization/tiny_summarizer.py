"""A tiny summarizer saved for the command tests, built in seconds.

The input tests need a model the commands load, not a good one: it is
built untrained. The export tests need summaries of several lengths, so
that the length penalty chooses other beams: it trains a few steps, and
its end token is made likelier (a shifted output bias).
"""

import keras
import numpy as np

from zoo.data.reports import generate_reports
from zoo.data.summaries import SummaryExample
from zoo.summarization.data import encode_examples
from zoo.summarization.data import make_dataset
from zoo.summarization.model import Summarizer
from zoo.text.word_vocabulary import END_ID
from zoo.text.word_vocabulary import WordVocabulary


def tiny_setup(
    arch="pointer-generator",
    coverage=True,
    num_train=96,
    num_valid=8,
    seed=0,
    source_length=64,
    summary_length=16,
    embedding_dim=16,
    units=24,
):
    """Generated reports and an unbuilt tiny summarizer of their words.

    The reports are generated with seed 0 (8 test reports); `seed` shuffles
    the dataset's batches of 16.

    Returns:
        `(reports, vocabulary, model, dataset)`.
    """
    reports = generate_reports(
        num_train=num_train, num_valid=num_valid, num_test=8, seed=0
    )
    examples = [
        SummaryExample(report.text, (report.summary,))
        for report in reports["train"]
    ]
    vocabulary = WordVocabulary.build(
        [example.text for example in examples], max_size=200
    )
    encoded = encode_examples(
        vocabulary, examples, source_length, summary_length
    )
    dataset = make_dataset(encoded, 16, shuffle=True, seed=seed)
    model = Summarizer(
        vocabulary.words,
        arch=arch,
        coverage=coverage,
        embedding_dim=embedding_dim,
        units=units,
        max_source_length=source_length,
        max_summary_length=summary_length,
    )
    return reports, vocabulary, model, dataset


def save_tiny_summarizer(path, epochs=0, end_bias=0.0, seed=0):
    """Builds (and with `epochs`, trains) a tiny summarizer; saves it.

    Returns:
        `(model, test_texts)`: the model saved at `path` and eight test
        reports it has not seen.
    """
    keras.utils.set_random_seed(seed)
    reports, _, model, dataset = tiny_setup(
        coverage=False,
        num_train=64,
        num_valid=1,
        seed=seed,
        source_length=48,
        summary_length=12,
        embedding_dim=8,
        units=8,
    )
    inputs, _ = next(iter(dataset))
    model(inputs)
    if epochs:
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        model.fit(dataset, epochs=epochs, verbose=0)
    if end_bias:
        bias = model.get_layer("output_logits").bias
        shifted = np.array(bias.numpy())
        shifted[END_ID] += end_bias
        bias.assign(shifted)
    model.save(path)
    return model, [report.text for report in reports["test"]]
