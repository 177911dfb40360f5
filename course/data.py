"""The course's data: scikit-learn's bundled handwritten digits, no download needed."""

from __future__ import annotations

import numpy as np


def load_digits_split(validation: float = 0.25, seed: int = 0):
    """1,797 digit images (8x8, scaled to [0, 1]) split into training and validation sets.

    Returns (x_train, y_train, x_val, y_val); x has shape (n, 64), y holds labels 0-9. The split
    is stratified and fixed by *seed*, so every chapter sees the same sets.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=validation, random_state=seed, stratify=y)
    return x_train, y_train, x_val, y_val
