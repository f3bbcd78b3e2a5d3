"""Character corpora: Gutenberg stripping, vocabulary, windows, held-out slice, errors."""

import numpy as np
import pytest

from course_kit.data import BOOKS, CharCorpus, list_books, load_corpus, strip_gutenberg

GUTENBERG = (
    "\ufeffThe Project Gutenberg EBook of Tales, by Someone\r\n\r\nThis eBook is for the use of anyone\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK TALES ***\r\n\r\nProduced by A. Volunteer\r\n\r\n"
    "Once upon a time.\r\nThe end.\r\n\r\nEnd of Project Gutenberg's Tales, by Someone\r\n\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK TALES ***\r\n\r\nSection 1. General Terms of Use\r\n"
)


def test_strip_gutenberg_keeps_only_the_body():
    assert strip_gutenberg(GUTENBERG) == "Once upon a time.\nThe end.\n"


def test_strip_gutenberg_leaves_plain_text_alone():
    assert strip_gutenberg("First Citizen:\nSpeak.\n") == "First Citizen:\nSpeak.\n"


@pytest.mark.parametrize("book", sorted(BOOKS))
def test_bundled_books_load_without_gutenberg_text(book):
    corpus = load_corpus(book)
    assert len(corpus.text) > 400_000
    assert "PROJECT GUTENBERG" not in corpus.text.upper()
    assert "\r" not in corpus.text and not corpus.text.startswith("\ufeff")
    assert corpus.vocab == sorted(set(corpus.text))


def test_list_books_names_every_bundled_book():
    assert set(list_books()) == {"grimms", "democracy", "anna_en", "anna_nl", "darwin_nl", "shakespeare"}


def test_encode_decode_round_trip():
    corpus = CharCorpus("hello world, hello kit")
    ids = corpus.encode("hello kit")
    assert ids.dtype == np.int32
    assert corpus.decode(ids) == "hello kit"
    assert corpus.vocab == sorted(set("hello world, hello kit"))


def test_training_windows_are_shifted_by_one_and_stay_in_training_part():
    text = "".join(chr(ord("a") + i % 26) for i in range(5000))
    corpus = CharCorpus(text, validation_fraction=0.1)
    batches = corpus.training_batches(batch_size=64, seq_length=30, seed=0, steps=50)
    train_len = len(corpus.train_ids)
    for i in range(50):
        inputs, targets = batches[i]
        assert inputs.shape == targets.shape == (64, 30)
        np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
        # every window is a substring of the training part, never touching the held-out tail
        train_text = corpus.decode(corpus.train_ids)
        for row_in, row_out in zip(inputs[:4], targets[:4]):
            window = corpus.decode(row_in) + corpus.decode(row_out[-1:])
            assert window in train_text
    assert train_len + len(corpus.val_ids) == len(text)


def test_training_batches_are_seeded():
    corpus = load_corpus("grimms")
    a = corpus.training_batches(8, 30, seed=5, steps=3)
    b = corpus.training_batches(8, 30, seed=5, steps=3)
    np.testing.assert_array_equal(a[2][0], b[2][0])
    assert not np.array_equal(a[2][0], corpus.training_batches(8, 30, seed=6, steps=3)[2][0])


def test_validation_windows_tile_the_held_out_tail():
    corpus = CharCorpus("abcdefghij" * 100, validation_fraction=0.2)
    inputs, targets = corpus.validation_windows(seq_length=30)
    assert inputs.shape == (6, 30)
    np.testing.assert_array_equal(inputs.reshape(-1), corpus.val_ids[:180])
    np.testing.assert_array_equal(targets.reshape(-1), corpus.val_ids[1:181])


def test_unknown_book_name():
    with pytest.raises(ValueError, match="unknown book 'moby'"):
        load_corpus("moby")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_corpus(tmp_path / "nothing.txt")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(path)


def test_file_with_only_gutenberg_boilerplate_is_empty(tmp_path):
    path = tmp_path / "boiler.txt"
    path.write_text("*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\n")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_corpus(path)


def test_user_file_loads(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("roses are red\nviolets are blue\n", encoding="utf-8")
    corpus = load_corpus(str(path), validation_fraction=0.0)
    assert corpus.text == "roses are red\nviolets are blue\n" and corpus.name == "poem.txt"


def test_sequence_longer_than_text():
    corpus = CharCorpus("short text here", validation_fraction=0.0)
    with pytest.raises(ValueError, match="seq_length 30 is too long"):
        corpus.training_batches(4, 30)
    with pytest.raises(ValueError, match="seq_length"):
        CharCorpus("x" * 100, validation_fraction=0.1).validation_windows(30)


def test_unknown_characters_in_encode():
    with pytest.raises(ValueError, match="not in the corpus vocabulary"):
        CharCorpus("abc").encode("abz")
