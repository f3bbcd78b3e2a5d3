"""JAX interop: dropout masks from 16 random bits per entry.

The one place in the kit's layers that calls JAX itself. Keras' JAX dropout draws one 32-bit
threefry word per entry and turns it into a float to compare with the keep probability; on
CPU, for Cora's 2708 x 1433 features, that took about 45 ms of a 52 ms GCN training step.
Here one threefry word gives the bits of two entries, which took about 15 ms. An entry is
kept when its 16 bits fall below ``round(keep * 2**16)``, and the kept entries are scaled by
the inverse of that exact probability, so the output's mean is the input's; the kept fraction
differs from ``1 - rate`` by at most ``2**-17`` (7.6e-6).
"""

import jax
import jax.numpy as jnp

__all__ = ["dropout"]

LEVELS = 2**16


def keep_threshold(rate):
    """The number of the 2**16 values of an entry's bits that keep it."""
    return round((1.0 - rate) * LEVELS)


def dropout(inputs, rate, seed):
    """``inputs`` with each entry zeroed with probability ``rate`` (to within 2**-17), the
    others scaled so that the expected output is ``inputs``; ``seed`` is a Keras seed state
    (``SeedGenerator.next()``, a raw ``uint32[2]`` threefry key)."""
    threshold = keep_threshold(rate)
    if threshold >= LEVELS:
        return inputs
    if threshold == 0:
        return jnp.zeros_like(inputs)
    words = jax.random.bits(seed, ((inputs.size + 1) // 2,), jnp.uint32)
    bits = jax.lax.bitcast_convert_type(words, jnp.uint16).reshape(-1)[: inputs.size]
    kept = bits.reshape(inputs.shape) < jnp.uint16(threshold)
    scale = jnp.asarray(LEVELS / threshold, dtype=inputs.dtype)
    return jnp.where(kept, inputs * scale, jnp.zeros_like(inputs))
