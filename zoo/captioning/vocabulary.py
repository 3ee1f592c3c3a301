"""The word vocabulary of the captioner: caption text to ids and back.

Captions are compared word by word, as captioning papers do: lowercased,
with every character that is not a letter, a digit or an apostrophe
treated as a space ("A dog, running." -> "a dog running"). The vocabulary
holds the words seen at least `min_count` times in the training captions
(the Karpathy and Show-Attend-Tell setting, 5 on Flickr and COCO); the
others become `<unk>`.
"""

import collections
import re

PAD, START, END, UNKNOWN = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNKNOWN)
PAD_ID, START_ID, END_ID, UNKNOWN_ID = range(4)
_NOT_A_WORD = re.compile(r"[^0-9a-z']+")


def caption_words(caption):
    """The words of a caption, lowercased and without punctuation.

    Example:

    >>> caption_words("A dog, running on the beach.")
    ['a', 'dog', 'running', 'on', 'the', 'beach']
    """
    return _NOT_A_WORD.sub(" ", caption.lower()).split()


def normalize_caption(caption):
    """The caption as compared: its words joined by single spaces."""
    return " ".join(caption_words(caption))


def build_vocabulary(captions, min_count=1, max_size=None):
    """The special tokens, then the words of `captions`, most frequent first.

    Args:
        captions: iterable of caption strings.
        min_count: words seen fewer times are left out (become `<unk>`).
        max_size: optional cap on the vocabulary size (special tokens
            included).

    Returns:
        A list of words; its index is the token id. Ties in frequency are
        broken alphabetically, so the vocabulary does not depend on the
        order of the captions.

    Example:

    >>> build_vocabulary(["a dog", "A cat.", "a dog"])
    ['<pad>', '<start>', '<end>', '<unk>', 'a', 'dog', 'cat']
    """
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(
            f"`min_count` must be an integer >= 1. Received: "
            f"min_count={min_count!r}"
        )
    counts = collections.Counter(
        word for caption in captions for word in caption_words(caption)
    )
    words = sorted(
        (word for word, count in counts.items() if count >= min_count),
        key=lambda word: (-counts[word], word),
    )
    vocabulary = list(SPECIAL_TOKENS) + words
    if max_size is not None:
        vocabulary = vocabulary[: max(max_size, len(SPECIAL_TOKENS))]
    return vocabulary


class CaptionEncoder:
    """Turns captions into padded id sequences and ids back into text.

    Args:
        vocabulary: the list of `build_vocabulary`.
        max_length: the longest caption in words; longer captions are cut
            (their end token kept), and counted in `num_truncated`.
    """

    def __init__(self, vocabulary, max_length):
        if list(vocabulary[: len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
            raise ValueError(
                f"`vocabulary` must start with {list(SPECIAL_TOKENS)}. "
                f"Received: {list(vocabulary[:4])}"
            )
        self.vocabulary = list(vocabulary)
        self.max_length = max_length
        self.ids = {word: index for index, word in enumerate(vocabulary)}
        self.num_truncated = 0

    def encode(self, caption):
        """`[<start>, w_1, ..., w_n, <end>]` ids, `n <= max_length`."""
        words = caption_words(caption)
        if len(words) > self.max_length:
            self.num_truncated += 1
            words = words[: self.max_length]
        return (
            [START_ID]
            + [self.ids.get(word, UNKNOWN_ID) for word in words]
            + [END_ID]
        )

    def decode(self, ids):
        """The words of `ids` up to the first end or pad token."""
        words = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id in (END_ID, PAD_ID):
                break
            words.append(self.vocabulary[token_id])
        return " ".join(words)
