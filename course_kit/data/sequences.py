"""Toy sequence classification tasks of Part 1, as endless seeded streams of batches.

Every task is a ``keras.utils.PyDataset``: ``task[i]`` is the i-th training batch ``(x, y)``,
a function of ``(seed, i)`` alone, so the same seed gives the same batches on every backend
and in any order. ``task.sample(n, seed)`` draws a held-out set from a separate stream.

Inputs are integer codes, ``x`` int32 of shape ``(batch, input_length)``; with
``one_hot=True`` they are float32 one-hot vectors, shape ``(batch, input_length, vocab_size)``.
Labels ``y`` are int32 of shape ``(batch,)``.
"""

import math

import keras
import numpy as np

__all__ = [
    "BaumSweet",
    "BinaryPalindrome",
    "DigitPalindrome",
    "RandomCombinations",
    "SequenceTask",
    "TASKS",
    "make_task",
]

_TRAIN_STREAM, _HELD_OUT_STREAM = 0, 1


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class SequenceTask(keras.utils.PyDataset):
    """Base class: subclasses set the sizes and implement ``_generate(rng, n)``.

    Args:
        length: the task's length parameter T (its meaning is stated by each task).
        batch_size: samples per batch.
        seed: seed of the stream (an int).
        steps: number of batches in one pass (``len(task)``); the stream itself is endless.
        one_hot: return one-hot float inputs instead of integer codes.
    """

    min_length = 2

    def __init__(self, length, batch_size=128, seed=0, steps=1000, one_hot=False, **kwargs):
        super().__init__(**kwargs)
        self.length = _positive_int("length", length, self.min_length)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.steps = _positive_int("steps", steps)
        self.seed = _positive_int("seed", seed, 0)
        self.one_hot = bool(one_hot)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range for {self.steps} steps")
        rng = np.random.default_rng([self.seed, _TRAIN_STREAM, int(index)])
        return self._encode(*self._generate(rng, self.batch_size))

    def sample(self, n, seed=0):
        """``n`` fresh samples from a stream disjoint from the training batches."""
        n = _positive_int("n", n)
        rng = np.random.default_rng([self.seed, _HELD_OUT_STREAM, _positive_int("seed", seed, 0)])
        return self._encode(*self._generate(rng, n))

    def _encode(self, x, y):
        x = x.astype(np.int32)
        if self.one_hot:
            x = np.eye(self.vocab_size, dtype=np.float32)[x]
        return x, y.astype(np.int32)

    def __repr__(self):
        return (
            f"{type(self).__name__}(length={self.length}, batch_size={self.batch_size}, "
            f"seed={self.seed}, input_length={self.input_length}, vocab_size={self.vocab_size}, "
            f"num_classes={self.num_classes})"
        )


class DigitPalindrome(SequenceTask):
    """Digit palindromes (2019). ``length`` T is the number of input digits.

    A palindrome of T+1 digits 0..9 is drawn (ceil((T+1)/2) random digits, mirrored; for an
    odd length the middle digit is not repeated). The input is its first T digits, the label
    its last digit, which equals the first. Chance accuracy is 10%.
    """

    vocab_size = 10
    num_classes = 10
    majority_baseline = 0.1

    @property
    def input_length(self):
        return self.length

    def _generate(self, rng, n):
        total = self.length + 1
        half = rng.integers(0, 10, size=(n, math.ceil(total / 2)))
        mirrored = half[:, : total // 2][:, ::-1]
        palindromes = np.concatenate([half, mirrored], axis=1)
        return palindromes[:, :-1], palindromes[:, -1]


class BinaryPalindrome(SequenceTask):
    """Binary palindromes (2020). ``length`` T sets the input length 4T+1.

    ceil(T/2) integers in 0..8 are written in binary and concatenated; the bit string is
    reversed with probability 1/2, its mirror is appended, and the result is left-padded to
    4T+2 symbols. Codes: 0 = pad, 1 = bit 0, 2 = bit 1. The input is the first 4T+1 codes,
    the label the last bit (0 or 1). The label is 1 with probability 2/3 (the first bit is
    the leading 1 of an integer in 1..8, or the last bit of an odd one), so always answering
    1 already scores about 67%. For odd T a draw can exceed 4T+2 bits; such draws are
    redrawn.
    """

    vocab_size = 3
    num_classes = 2
    majority_baseline = 2 / 3

    @property
    def input_length(self):
        return 4 * self.length + 1

    def _generate(self, rng, n):
        total = 4 * self.length + 2
        x = np.zeros((n, total), dtype=np.int32)
        for row in range(n):
            while True:
                integers = rng.integers(0, 9, size=math.ceil(self.length / 2))
                bits = [int(b) for value in integers for b in format(value, "b")]
                if rng.random() < 0.5:
                    bits.reverse()
                palindrome = bits + bits[::-1]
                if len(palindrome) <= total:
                    break
            x[row, total - len(palindrome):] = np.asarray(palindrome) + 1
        return x[:, :-1], x[:, -1] - 1


class RandomCombinations(SequenceTask):
    """Random combinations (2020). ``length`` T is the permutation size.

    A random permutation of 1..T; the input is its first T-1 values (codes 1..T), the label
    its last value, the one missing from the input (classes 0..T; class 0 never occurs).
    """

    majority_baseline = property(lambda self: 1 / self.length)
    vocab_size = property(lambda self: self.length + 1)
    num_classes = property(lambda self: self.length + 1)

    @property
    def input_length(self):
        return self.length - 1

    def _generate(self, rng, n):
        permutations = rng.permuted(np.tile(np.arange(1, self.length + 1), (n, 1)), axis=1)
        return permutations[:, :-1], permutations[:, -1]


class BaumSweet(SequenceTask):
    """Baum-Sweet sequence membership (2020). ``length`` T sets the input length 4T.

    A random integer in [10, 10**T] is written in binary, left-padded to 4T symbols
    (0 = pad, 1 = bit 0, 2 = bit 1). The label is 1 when the binary string has no block of
    zeros of odd length. Such integers are rare, so the classes are rebalanced: each sample's
    label is drawn 50/50, and a label-1 string is drawn uniformly among the valid strings of
    the sampled bit length.
    """

    vocab_size = 3
    num_classes = 2
    majority_baseline = 0.5

    @property
    def input_length(self):
        return 4 * self.length

    def _generate(self, rng, n):
        width = self.input_length
        x = np.zeros((n, width), dtype=np.int32)
        y = (rng.random(n) < 0.5).astype(np.int32)
        for row in range(n):
            bits = self._integer_bits(rng)
            bits = self._valid_bits(rng, len(bits)) if y[row] else self._invalid_bits(rng, bits)
            x[row, width - len(bits):] = np.asarray(bits) + 1
        return x, y

    def _integer_bits(self, rng):
        value = int(rng.integers(10, 10 ** min(self.length, 18), endpoint=True))
        if self.length > 18:  # beyond int64: widen with extra random digits
            value = value * 10 ** (self.length - 18) + int(rng.integers(0, 10 ** (self.length - 18)))
        return [int(b) for b in format(value, "b")]

    def _invalid_bits(self, rng, bits):
        while is_baum_sweet(bits):
            bits = self._integer_bits(rng)
        return bits

    @staticmethod
    def _valid_bits(rng, size):
        # A valid string is "1" followed by tokens "1" and "00". count[k] = number of token
        # sequences of total length k (Fibonacci); choosing each token with probability
        # proportional to the completions it leaves makes the string uniform.
        count = [1, 1]
        for k in range(2, size):
            count.append(count[k - 1] + count[k - 2])
        remaining = size - 1
        bits = [1]
        while remaining:
            take_one = remaining == 1 or rng.random() < count[remaining - 1] / count[remaining]
            bits += [1] if take_one else [0, 0]
            remaining -= 1 if take_one else 2
        return bits


def is_baum_sweet(bits):
    """True when the bit sequence has no block of consecutive zeros of odd length."""
    blocks = "".join(map(str, bits)).split("1")
    return all(len(block) % 2 == 0 for block in blocks)


TASKS = {
    "digit_palindrome": DigitPalindrome,
    "binary_palindrome": BinaryPalindrome,
    "random_combinations": RandomCombinations,
    "baum_sweet": BaumSweet,
}


def make_task(name, length, batch_size=128, seed=0, steps=1000, one_hot=False, **kwargs):
    """Create the toy task ``name`` (one of ``TASKS``); see the task classes for ``length``."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name](length, batch_size=batch_size, seed=seed, steps=steps, one_hot=one_hot, **kwargs)
