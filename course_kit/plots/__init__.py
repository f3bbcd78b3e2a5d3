"""The figures the notebooks ask for (matplotlib)."""
