"""Colour-digit data sets for the two-domain translators (MNIST-Single, MNIST-Multiple)."""

from stylestudy.generator.datasets.digits import (
    DigitSet,
    build_multiple,
    build_single,
    load_digit_set,
    load_mnist_5k,
    save_digit_set,
)

__all__ = ["DigitSet", "build_multiple", "build_single", "load_digit_set", "load_mnist_5k",
           "save_digit_set"]
