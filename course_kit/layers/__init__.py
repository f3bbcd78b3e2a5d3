"""Keras 3 layers of the kit: recurrent cells and graph layers (every backend)."""
