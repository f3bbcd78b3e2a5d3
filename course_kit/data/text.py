"""Character-level corpora for Part 2: a book as one string, its vocabulary, and batches."""

import lzma
import re
from pathlib import Path

import keras
import numpy as np

from course_kit.data.bundled import bundled_file
from course_kit.data.sequences import _positive_int

__all__ = ["BOOKS", "CharCorpus", "list_books", "load_corpus", "strip_gutenberg"]

BOOKS = {
    "grimms": "Grimms' Fairy Tales (English)",
    "democracy": "Democracy in America, Vol. 1 (English)",
    "anna_en": "Anna Karenina (English)",
    "anna_nl": "Anna Karenina (Dutch)",
    "darwin_nl": "De Reis om de Wereld, Darwin (Dutch)",
    "shakespeare": "Tiny Shakespeare (English)",
}

_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.MULTILINE)
_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$", re.MULTILINE)
_END_NOTE = re.compile(r"^End of (the )?Project Gutenberg[\s\S]*\Z", re.MULTILINE | re.IGNORECASE)
_CREDITS = re.compile(r"\A\s*Produced by [\s\S]*?\n\s*\n")


def list_books():
    """Names of the bundled books, with a one-line description each."""
    return dict(BOOKS)


def strip_gutenberg(text):
    """Remove a Project Gutenberg header, footer and licence; normalise line ends.

    Keeps what lies between the ``*** START OF ...`` and ``*** END OF ...`` markers (either
    may be absent), and drops the "Produced by ..." credits after the header and the "End of
    Project Gutenberg's ..." note before the footer.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    start = _START.search(text)
    if start:
        text = _CREDITS.sub("", text[start.end():], count=1)
    end = _END.search(text)
    if end:
        text = _END_NOTE.sub("", text[: end.start()].rstrip())
    return text.strip("\n") + "\n"


class CharCorpus:
    """A text with its character vocabulary, a training part and a held-out tail.

    Args:
        text: the whole text.
        validation_fraction: share of characters at the end of the text kept for validation;
            training windows never reach into it.

    Attributes:
        vocab: sorted list of the distinct characters; ``vocab_size`` its length.
        train_ids, val_ids: int32 codes of the training part and the held-out tail.
    """

    def __init__(self, text, validation_fraction=0.05, name=None):
        if not isinstance(text, str) or not text:
            raise ValueError("the corpus text is empty")
        if not 0 <= validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
        self.name = name
        self.text = text
        self.vocab = sorted(set(text))
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        ids = self.encode(text)
        split = len(ids) - int(round(len(ids) * validation_fraction))
        self.train_ids, self.val_ids = ids[:split], ids[split:]

    @property
    def vocab_size(self):
        return len(self.vocab)

    def encode(self, text):
        """Codes of ``text`` as an int32 array; unknown characters raise ``ValueError``."""
        unknown = sorted(set(text) - self._index.keys())
        if unknown:
            raise ValueError(f"characters not in the corpus vocabulary: {unknown!r}")
        return np.fromiter((self._index[ch] for ch in text), dtype=np.int32, count=len(text))

    def decode(self, ids):
        """The string of the codes ``ids`` (any integer sequence or array)."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"codes must lie in [0, {self.vocab_size}), got {ids.min()}..{ids.max()}")
        return "".join(self.vocab[i] for i in ids)

    def training_batches(self, batch_size=64, seq_length=30, seed=0, steps=1000):
        """A ``keras.utils.PyDataset`` of random training windows (teacher forcing)."""
        return CharWindows(self.train_ids, batch_size, seq_length, seed, steps)

    def validation_windows(self, seq_length=30):
        """Non-overlapping windows of the held-out tail: ``(inputs, targets)``, int32
        ``(n, seq_length)``, targets shifted by one character."""
        seq_length = _check_seq_length(seq_length, len(self.val_ids), "held-out part")
        n = (len(self.val_ids) - 1) // seq_length
        inputs = self.val_ids[: n * seq_length].reshape(n, seq_length)
        targets = self.val_ids[1 : n * seq_length + 1].reshape(n, seq_length)
        return inputs, targets

    def __repr__(self):
        return (
            f"CharCorpus(name={self.name!r}, characters={len(self.text)}, vocab_size={self.vocab_size}, "
            f"train={len(self.train_ids)}, validation={len(self.val_ids)})"
        )


def _check_seq_length(seq_length, available, where):
    seq_length = _positive_int("seq_length", seq_length)
    if seq_length + 1 > available:
        raise ValueError(
            f"seq_length {seq_length} is too long for the {where} of {available} characters "
            "(a window needs seq_length + 1 characters)"
        )
    return seq_length


class CharWindows(keras.utils.PyDataset):
    """Batch i holds random windows of ``ids``: ``inputs = ids[s:s+T]``, ``targets = ids[s+1:s+T+1]``.
    Batch i is a function of ``(seed, i)`` alone."""

    def __init__(self, ids, batch_size, seq_length, seed, steps, **kwargs):
        super().__init__(**kwargs)
        self.ids = ids
        self.batch_size = _positive_int("batch_size", batch_size)
        self.seq_length = _check_seq_length(seq_length, len(ids), "training part")
        self.seed = _positive_int("seed", seed, 0)
        self.steps = _positive_int("steps", steps)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range for {self.steps} steps")
        rng = np.random.default_rng([self.seed, int(index)])
        starts = rng.integers(0, len(self.ids) - self.seq_length, size=self.batch_size)
        window = starts[:, None] + np.arange(self.seq_length + 1)
        chunks = self.ids[window]
        return chunks[:, :-1], chunks[:, 1:]


def load_corpus(book, validation_fraction=0.05):
    """Load a bundled book by name (see ``list_books()``) or a UTF-8 text file by path.

    Project Gutenberg headers, footers and licences are stripped.
    """
    path = Path(book)
    if str(book) in BOOKS:
        raw = lzma.decompress(bundled_file(f"{book}.txt.xz").read_bytes())
        name = str(book)
    elif path.suffix or path.exists() or len(path.parts) > 1:
        if not path.is_file():
            raise FileNotFoundError(f"text file not found: {path}")
        raw, name = path.read_bytes(), path.name
    else:
        raise ValueError(f"unknown book {book!r}; bundled books: {sorted(BOOKS)} (or give a file path)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    text = strip_gutenberg(text)
    if not text.strip():
        raise ValueError(f"{name} is empty (after removing any Project Gutenberg header and licence)")
    return CharCorpus(text, validation_fraction=validation_fraction, name=name)
