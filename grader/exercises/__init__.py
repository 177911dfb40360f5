"""One module per exercise notebook, each defining `EXERCISE` (see grader.spec)."""
