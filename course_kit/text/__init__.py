"""Command line for the character model: ``python -m course_kit.text train|sample ...``."""
