"""Training loops, seeded multi-run experiments and gradient diagnostics."""
