"""Short news reports with one-line summaries: the embedded dataset.

A generated stand-in for news summarization (See et al., 2017, on
CNN/Daily Mail) that needs no download and trains a small
pointer-generator in minutes. Every report tells one event of eight
kinds (a council project, an appointment, an opening, a match, company
results, an election, a storm, a research grant) in 3 or 4 sentences
(25-60 words) about invented people, places and organisations; its
reference summary (6-14 words) names the main ones and a number::

    text:    "the city council of brenvale met on tuesday to discuss the
              plan . mayor oskar trelli said the new bridge will cost 45
              million . work starts in march and residents welcomed the
              plan ."
    summary: "oskar trelli says brenvale bridge will cost 45 million"

What makes it a copying task:

* **Names are out of vocabulary.** Names are built from syllables, and the
  first syllable of every name word (consonants and one vowel) belongs to
  one split only, so no name word of the valid or test split occurs
  anywhere in the training split: a model gets them right only by copying.
* **Distractors.** Other people, places, organisations and numbers are
  mentioned (a second person quoted, a runner-up, last year's profit);
  the summary picks the one with the right role, so position alone does
  not tell which to copy.
* **Varied order.** The sentences after the opening one are shuffled, and
  three reports in ten shuffle the opening one too.

Texts and summaries are lowercase with punctuation as separate tokens, so
the default `WordVocabulary` tokenization is splitting on spaces. Each
`Report` carries the `alignment` of its summary: for each summary word the
index of the text token it is copied from (-1 for template words), the
reference for checking a model's attention or copy decisions.

Everything is deterministic given `seed`, and each split depends only on
its own size: changing `num_train` leaves the valid and test reports as
they are.
"""

import random
import re
from typing import NamedTuple


class Report(NamedTuple):
    """A generated report and its reference summary.

    Attributes:
        text: the report, lowercase, tokens separated by single spaces.
        summary: the reference summary, likewise.
        names: the invented names the summary copies (people, places,
            organisations), each as it appears in `text` (`"oskar
            trelli"`), in summary order.
        alignment: one int per summary token (`summary.split(" ")`): the
            index in `text.split(" ")` of the token it copies, or -1.
    """

    text: str
    summary: str
    names: tuple
    alignment: tuple


SPLIT_NAMES = ("train", "valid", "test")
DEFAULT_SIZES = {"train": 6000, "valid": 300, "test": 300}

DAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
PROJECTS = (
    "bridge",
    "tunnel",
    "tram line",
    "swimming pool",
    "harbour wall",
    "bus station",
    "ring road",
)
ROLES = (
    "chief executive",
    "finance director",
    "chairman",
    "head of research",
    "sales director",
)
PRODUCTS = ("furniture", "bicycles", "paper", "software", "shoes", "glass")
FACILITIES = (
    ("hospital", "beds"),
    ("school", "classrooms"),
    ("stadium", "seats"),
    ("hotel", "rooms"),
    ("library", "rooms"),
    ("car park", "spaces"),
)
INDUSTRIES = ("food", "steel", "shipping", "software", "energy", "textile")
TOPICS = (
    "river fish",
    "solar power",
    "bird song",
    "old bridges",
    "sea ice",
    "wheat disease",
)

# Slots holding invented names: their summary values make `Report.names`.
NAME_SLOTS = frozenset({"P", "Q", "Q2", "L", "L2", "O", "O2", "T1", "T2", "T3"})

# Each kind of event: the opening sentence ("lead"), the other sentence
# the summary needs ("core"), optional sentences (mostly distractors) by
# tag, and the summary. "{X}" is a slot; "{X@tag}" in a summary copies
# slot X from the sentence `tag`.
_TEMPLATES = {
    "council": {
        "lead": "the city council of {L} met on {day} to discuss the plan .",
        "core": "mayor {P} said the new {project} will cost {N} million .",
        "optional": {
            "q": "{Q} , who leads the opposition , called the plan too "
            "expensive .",
            "start": "work starts in {month} and residents welcomed the plan .",
            "old": "the old {project} was built {M} years ago .",
            "o": "engineers from {O} will carry out the work .",
        },
        "summary": "{P@core} says {L@lead} {project@core} will cost "
        "{N@core} million",
    },
    "appointment": {
        "lead": "{O} has named {P} as its new {role} .",
        "core": "{P} previously spent {N} years at {O2} , a rival firm based "
        "in {L} .",
        "optional": {
            "q": "the outgoing {role} , {Q} , will leave the company in "
            "{month} .",
            "staff": "{O} employs {M} people and makes {product} .",
            "shares": "shares in {O} rose {K} percent after the announcement .",
        },
        "summary": "{O@lead} names {P@lead} {role@lead} after {N@core} years "
        "at {O2@core}",
    },
    "opening": {
        "lead": "a new {facility} opened in {L} on {day} .",
        "core": "the {facility} has {N} {units} and cost {M} million to "
        "build .",
        "optional": {
            "o": "it was built by {O} , a company from {L2} .",
            "q": "{Q} , who lives nearby , said the town had waited years "
            "for it .",
            "guests": "about {K} people came to the opening ceremony .",
        },
        "summary": "new {facility@lead} with {N@core} {units@core} opens in "
        "{L@lead}",
    },
    "match": {
        "lead": "{T1} beat {T2} {N} - {M} in {L} on {day} .",
        "core": "{P} scored {K} goals for {T1} .",
        "optional": {
            "q": "{T2} coach {Q} said the team had played badly .",
            "fans": "{C} fans watched the game in the rain .",
            "next": "{T1} now plays {T3} in {month} .",
        },
        "summary": "{T1@lead} beat {T2@lead} {N@lead} - {M@lead} as {P@core} "
        "scores {K@core}",
    },
    "results": {
        "lead": "{O} , the {industry} company based in {L} , reported a "
        "profit of {N} million for the year .",
        "core": "chief executive {P} said sales grew by {K} percent .",
        "optional": {
            "q": "analyst {Q} of {O2} said the results were better than "
            "expected .",
            "staff": "the company employs {M} people and plans {J} new "
            "stores .",
            "earlier": "a year earlier the profit was {R} million .",
        },
        "summary": "{O@lead} profit rises to {N@lead} million as sales grow "
        "{K@core} percent",
    },
    "election": {
        "lead": "voters in {L} elected {P} as their new mayor on {day} .",
        "core": "{P} won {N} percent of the vote , ahead of {Q} with {M} "
        "percent .",
        "optional": {
            "turnout": "turnout was {K} percent , the highest for {Y} years .",
            "homes": "{P} has promised to build {J} new homes .",
            "former": "the former mayor , {Q2} , did not stand again .",
        },
        "summary": "{P@lead} wins {L@lead} election with {N@core} percent "
        "of the vote",
    },
    "storm": {
        "lead": "a storm hit {L} and nearby villages on {day} night .",
        "core": "{N} homes were left without power , said {P} of {O} .",
        "optional": {
            "q": "{Q} , a local farmer , said it was the worst storm in {K} "
            "years .",
            "roads": "roads to {L2} were closed for {H} hours .",
            "cost": "{O} said repairs will cost {M} million .",
        },
        "summary": "storm leaves {N@core} homes in {L@lead} without power , "
        "says {P@core}",
    },
    "grant": {
        "lead": "scientists at {O} in {L} have won a grant of {N} million .",
        "core": "the team , led by {P} , will study {topic} for {K} years .",
        "optional": {
            "q": "{Q} of {O2} called the project very important .",
            "fund": "the money comes from a fund of {M} million .",
        },
        "summary": "{P@core} team at {O@lead} wins {N@lead} million grant to "
        "study {topic@core}",
    },
}

_SLOT = re.compile(r"\{(\w+)\}")
_SUMMARY_SLOT = re.compile(r"\{(\w+)@(\w+)\}")

# Syllables of invented names. A name word is a first syllable (onset and
# vowel), more letters, and an ending of its kind; the first syllable
# decides the split, and since onsets are consonants only and vowels one
# letter, a word's first syllable can be read off it: words of different
# splits always differ.
_ONSETS = (
    "b", "br", "d", "dr", "f", "fr", "g", "gr", "h", "j", "k", "kr", "l",
    "m", "n", "p", "pr", "r", "s", "sk", "st", "t", "tr", "v", "z",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "n", "r", "l", "s", "k")
_ENDINGS = {
    "first": ("", "a", "o", "en", "ar", "is"),
    "last": ("lli", "nek", "ssen", "rov", "dal", "mar", "vic", "berg"),
    "place": ("vale", "mont", "by", "ton", "holm", "ford", "wick", "stad"),
    "org": ("x", "ra", "tech", "lux", "tron", "dex", "co", "nova"),
}
# Share of the first syllables given to the valid and to the test split.
_HELD_OUT_SYLLABLE_FRACTION = 0.12


def _template_words():
    """Every word the templates and slot lists can put in a report."""
    texts = [
        text
        for spec in _TEMPLATES.values()
        for text in (
            spec["lead"],
            spec["core"],
            spec["summary"],
            *spec["optional"].values(),
        )
    ]
    texts += [
        *DAYS,
        *MONTHS,
        *PROJECTS,
        *ROLES,
        *PRODUCTS,
        *INDUSTRIES,
        *TOPICS,
        *(word for pair in FACILITIES for word in pair),
    ]
    words = set()
    for text in texts:
        words.update(_SUMMARY_SLOT.sub(" ", _SLOT.sub(" ", text)).split())
    return frozenset(words)


TEMPLATE_WORDS = _template_words()


def _first_syllables_by_split(seed):
    syllables = [onset + vowel for onset in _ONSETS for vowel in _VOWELS]
    random.Random(f"reports:{seed}:syllables").shuffle(syllables)
    held_out = round(_HELD_OUT_SYLLABLE_FRACTION * len(syllables))
    return {
        "valid": syllables[:held_out],
        "test": syllables[held_out : 2 * held_out],
        "train": syllables[2 * held_out :],
    }


def _name_word(rng, first_syllables, kind):
    word = rng.choice(first_syllables)
    if kind == "place":
        word += rng.choice(_CODAS)
    else:
        word += rng.choice(_ONSETS) + rng.choice(_VOWELS)
        if kind == "first":
            word += rng.choice(_CODAS)
    return word + rng.choice(_ENDINGS[kind])


def _name_pools(split, size, seed):
    """Distinct name words of each kind for one split."""
    rng = random.Random(f"reports:{seed}:{split}:names")
    first_syllables = _first_syllables_by_split(seed)[split]
    used = set()
    pools = {}
    for kind in ("first", "last", "place", "org"):
        pool = []
        while len(pool) < size:
            word = _name_word(rng, first_syllables, kind)
            if word not in used and word not in TEMPLATE_WORDS:
                used.add(word)
                pool.append(word)
        pools[kind] = pool
    return pools


class _Draw:
    """Draws one report's values: names and numbers not used twice."""

    def __init__(self, rng, pools):
        self.rng = rng
        self.pools = pools
        self.words = set()
        self.numbers = set()

    def _word(self, kind):
        while True:
            word = self.rng.choice(self.pools[kind])
            if word not in self.words:
                self.words.add(word)
                return word

    def person(self):
        return f"{self._word('first')} {self._word('last')}"

    def place(self):
        return self._word("place")

    def org(self):
        return self._word("org")

    def number(self, low, high):
        """A number in [low, high] not drawn before in this report."""
        while True:
            value = self.rng.randint(low, high)
            if value not in self.numbers:
                self.numbers.add(value)
                return str(value)

    def choice(self, options):
        return self.rng.choice(options)


def _values(kind, draw):
    """The slot values of one report of `kind`."""
    values = {
        "P": draw.person(),
        "Q": draw.person(),
        "L": draw.place(),
        "day": draw.choice(DAYS),
        "month": draw.choice(MONTHS),
    }
    if kind == "council":
        values.update(
            O=draw.org(),
            N=draw.number(5, 900),
            M=draw.number(20, 150),
            project=draw.choice(PROJECTS),
        )
    elif kind == "appointment":
        values.update(
            O=draw.org(),
            O2=draw.org(),
            N=draw.number(3, 30),
            M=draw.number(40, 9000),
            K=draw.number(2, 19),
            role=draw.choice(ROLES),
            product=draw.choice(PRODUCTS),
        )
    elif kind == "opening":
        facility, units = draw.choice(FACILITIES)
        values.update(
            O=draw.org(),
            L2=draw.place(),
            N=draw.number(20, 900),
            M=draw.number(2, 300),
            K=draw.number(100, 5000),
            facility=facility,
            units=units,
        )
    elif kind == "match":
        winner = int(draw.number(2, 6))
        values.update(
            T1=draw.org(),
            T2=draw.org(),
            T3=draw.org(),
            N=str(winner),
            M=draw.number(0, winner - 1),
            # The scorer's goals may equal a score: only the role tells.
            K=str(draw.rng.randint(2, winner)),
            C=draw.number(1000, 60000),
        )
    elif kind == "results":
        profit = int(draw.number(10, 900))
        values.update(
            O=draw.org(),
            O2=draw.org(),
            N=str(profit),
            R=draw.number(5, profit - 1),
            K=draw.number(2, 40),
            M=draw.number(100, 20000),
            J=draw.number(2, 90),
            industry=draw.choice(INDUSTRIES),
        )
    elif kind == "election":
        share = int(draw.number(40, 80))
        values.update(
            Q2=draw.person(),
            N=str(share),
            M=draw.number(10, min(share - 1, 100 - share)),
            K=draw.number(30, 90),
            Y=draw.number(5, 40),
            J=draw.number(100, 5000),
        )
    elif kind == "storm":
        values.update(
            O=draw.org(),
            L2=draw.place(),
            N=draw.number(50, 20000),
            K=draw.number(10, 80),
            H=draw.number(2, 48),
            M=draw.number(1, 60),
        )
    elif kind == "grant":
        values.update(
            O=draw.org(),
            O2=draw.org(),
            N=draw.number(1, 50),
            K=draw.number(2, 9),
            M=draw.number(60, 900),
            topic=draw.choice(TOPICS),
        )
    return values


def _render(sentences, values):
    """Text tokens and where each slot of each sentence starts."""
    tokens = []
    starts = {}
    for tag, template in sentences:
        for piece in template.split():
            slot = _SLOT.fullmatch(piece)
            if slot is None:
                tokens.append(piece)
                continue
            starts.setdefault((tag, slot[1]), len(tokens))
            tokens.extend(values[slot[1]].split())
    return tokens, starts


def _summarize(template, values, starts):
    """Summary tokens, their alignment to the text, and the names."""
    tokens, alignment, names = [], [], []
    for piece in template.split():
        slot = _SUMMARY_SLOT.fullmatch(piece)
        if slot is None:
            tokens.append(piece)
            alignment.append(-1)
            continue
        name, tag = slot[1], slot[2]
        words = values[name].split()
        start = starts[(tag, name)]
        tokens.extend(words)
        alignment.extend(range(start, start + len(words)))
        if name in NAME_SLOTS and values[name] not in names:
            names.append(values[name])
    return tokens, alignment, names


def _report(rng, pools):
    kind = rng.choice(sorted(_TEMPLATES))
    spec = _TEMPLATES[kind]
    values = _values(kind, _Draw(rng, pools))
    optional = list(spec["optional"].items())
    rng.shuffle(optional)
    num_optional = rng.choice((1, 2))
    while True:
        body = [("core", spec["core"]), *optional[:num_optional]]
        rng.shuffle(body)
        sentences = [("lead", spec["lead"]), *body]
        if rng.random() < 0.3:
            rng.shuffle(sentences)
        tokens, starts = _render(sentences, values)
        # A short draw takes one more optional sentence.
        if len(tokens) >= 25 or num_optional == len(optional):
            break
        num_optional += 1
    summary, alignment, names = _summarize(spec["summary"], values, starts)
    return Report(
        " ".join(tokens), " ".join(summary), tuple(names), tuple(alignment)
    )


def generate_reports(num_train=6000, num_valid=300, num_test=300, seed=0):
    """Generates the train/valid/test reports.

    The default sizes train a small pointer-generator in a few CPU
    minutes. Name words of the valid and test splits never occur in the
    training split (their first syllables are held out).

    Args:
        num_train: number of training reports.
        num_valid: number of validation reports.
        num_test: number of test reports.
        seed: integer seed; the same seed gives the same reports.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `Report(text, summary, names, alignment)`.

    Example:

    >>> splits = generate_reports(num_train=2, num_valid=1, num_test=1)
    >>> report = splits["test"][0]
    >>> all(name in report.text for name in report.names)
    True
    >>> text = report.text.split(" ")
    >>> all(
    ...     text[index] == word
    ...     for word, index in zip(report.summary.split(" "), report.alignment)
    ...     if index >= 0
    ... )
    True
    """
    sizes = {"train": num_train, "valid": num_valid, "test": num_test}
    for split, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(
                f"`num_{split}` must be an integer >= 0. "
                f"Received: num_{split}={size!r}"
            )
    splits = {}
    for split, size in sizes.items():
        # Each name is used about twice per split, often enough to learn
        # from in training, rarely enough that memorizing does not pay.
        pools = _name_pools(split, max(40, size // 2), seed)
        rng = random.Random(f"reports:{seed}:{split}:reports")
        splits[split] = [_report(rng, pools) for _ in range(size)]
    return splits
