"""The training run and the command line: files written, resume, baseline, sampling CLI."""

import json

import keras
import numpy as np
import pytest

from course_kit.data import CharCorpus, load_corpus
from course_kit.text.__main__ import main
from course_kit.training.text import read_metrics, train_text_model, unigram_baseline

TEXT = "Once upon a time a king had a daughter. The frog said: 'Kiss me.'\n" * 30
SETTINGS = ["--steps", "4", "--eval-every", "2", "--batch-size", "8", "--seq-length", "8",
            "--embedding-dim", "4", "--units", "8", "--no-progress"]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("book") / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_unigram_baseline_matches_the_frequencies():
    corpus = CharCorpus("aaab" * 50 + "ab" * 10, validation_fraction=0.2)
    baseline = unigram_baseline(corpus, seq_length=4)
    _, targets = corpus.validation_windows(4)
    counts = np.array([np.sum(corpus.train_ids == i) for i in range(2)]) + 1.0
    assert baseline["accuracy"] == pytest.approx(np.mean(targets == 0))
    expected_loss = -np.mean(np.log(counts / counts.sum())[targets])
    assert baseline["loss"] == pytest.approx(expected_loss)


def test_train_writes_the_run_and_resume_continues_it_exactly(book, tmp_path, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", "--book", str(book), "--out", str(whole), *SETTINGS]) == 0
    for name in ("settings.json", "metrics.csv", "samples.md", "curves.png", "last.keras"):
        assert (whole / name).is_file(), name
    rows = read_metrics(whole / "metrics.csv")
    assert [row["step"] for row in rows] == [2, 4]
    assert [row["stage"] for row in rows] == [1, 3]  # 2 of 4 steps passes both 1/3 and 2/3
    settings = json.loads((whole / "settings.json").read_text())
    assert settings["unigram_baseline"]["accuracy"] > 0
    assert "## Stage 3/3 (step 4)" in (whole / "samples.md").read_text(encoding="utf-8")

    # An interrupted run: a time limit far below one round stops it after the first.
    main(["train", "--book", str(book), "--out", str(parts), *SETTINGS, "--time-limit", "1e-9"])
    assert [row["step"] for row in read_metrics(parts / "metrics.csv")] == [2]
    main(["train", "--book", str(book), "--out", str(parts), *SETTINGS, "--resume"])
    resumed = read_metrics(parts / "metrics.csv")
    assert [row["step"] for row in resumed] == [2, 4]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose([r[name] for r in resumed], [r[name] for r in rows], rtol=1e-5)
    first = keras.saving.load_model(whole / "last.keras")
    second = keras.saving.load_model(parts / "last.keras")
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

    capsys.readouterr()
    main(["sample", "--checkpoint", str(whole / "last.keras"), "--prompt", "Once", "--length", "12",
          "--strategy", "top_k", "--k", "3"])
    assert capsys.readouterr().out.startswith("Once")
    main(["sample", "--checkpoint", str(whole / "last.keras"), "--prompt", "The", "--length", "5",
          "--strategy", "beam", "--beam-width", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("] The" in line for line in lines)


    # The finished run is neither overwritten nor resumed with other settings.
    corpus = load_corpus(book)
    options = {"batch_size": 8, "seq_length": 8, "embedding_dim": 4, "units": 8, "eval_every": 2,
               "verbose": 0}
    with pytest.raises(FileExistsError, match="resume"):
        train_text_model(corpus, whole, 4, **options)
    with pytest.raises(ValueError, match="units"):
        train_text_model(corpus, whole, 4, resume=True, **{**options, "units": 6})
    with pytest.raises(ValueError, match="eval_every"):
        train_text_model(corpus, tmp_path / "other", 3, **options)


def test_cli_errors_name_the_problem(book, tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path / "none.keras"), "--strategy", "beam"]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert main(["train", "--book", "no_such_book", "--out", str(tmp_path)]) == 2
    assert "unknown book" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "none.keras")]) == 2
    assert "none.keras: no such file" in capsys.readouterr().err
