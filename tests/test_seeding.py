"""Seeding without TensorFlow, and TensorFlow without its start-up log lines."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from course_kit import set_random_seed


def _python(code, backend, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(KERAS_BACKEND=backend, **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment,
                          capture_output=True, text=True, timeout=300)


def _draws():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    return (np.asarray(layer.kernel), np.asarray(keras.random.normal((5,))),
            np.random.rand(2), __import__("random").random())


def test_seeds_as_keras_does(backend):
    set_random_seed(7)
    ours = _draws()
    keras.utils.set_random_seed(7)
    theirs = _draws()
    for mine, keras_own in zip(ours, theirs):
        np.testing.assert_array_equal(mine, keras_own)
    set_random_seed(8)
    assert not np.array_equal(_draws()[0], ours[0]), "another seed, other weights"


@pytest.mark.parametrize("seed", [1.5, "0", None, True])
def test_rejects_a_seed_that_is_not_an_integer(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        set_random_seed(seed)


@pytest.mark.backend_independent
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_never_imports_tensorflow_on_other_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.fail(f"{backend} is not installed: the dev extra installs every backend")
    run = _python("""
        import sys
        from course_kit import set_random_seed
        import course_kit.models, course_kit.training, course_kit.checks
        set_random_seed(0)
        print("tensorflow" in sys.modules)
    """, backend)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


@pytest.mark.backend_independent
def test_tensorflow_backend_starts_without_log_lines():
    run = _python("""
        import course_kit, keras
        print(float(keras.ops.sum(keras.ops.ones((2, 2)))))
    """, "tensorflow")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "4.0"
    assert run.stderr == ""


@pytest.mark.backend_independent
def test_a_spec_lookup_before_the_import_keeps_it_quiet():
    # PyTorch's compiler looks TensorFlow up without importing it; a later import stays quiet.
    run = _python("""
        import importlib.util
        import course_kit
        assert importlib.util.find_spec("tensorflow") is not None
        import tensorflow
        print(type(tensorflow.__spec__.loader).__name__)
    """, "torch")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "_QuietLoader"
    assert run.stderr == ""


@pytest.mark.backend_independent
def test_only_start_up_noise_is_dropped(tmp_path):
    (tmp_path / "noisy.py").write_text(textwrap.dedent("""
        import os
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\\n")
        os.write(2, b"I0000 00:00:1796158940.781878    6712 port.cc:153] oneDNN custom ops\\n")
        os.write(2, b"a real problem\\n")
    """))
    run = _python(f"""
        import importlib.util, sys
        from course_kit._tensorflow_logs import _QuietLoader
        spec = importlib.util.spec_from_file_location("noisy", {str(tmp_path / "noisy.py")!r})
        module = importlib.util.module_from_spec(spec)
        _QuietLoader(spec.loader).exec_module(module)
        print("done")
    """, "jax")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "done"
    assert run.stderr == "a real problem\n"
