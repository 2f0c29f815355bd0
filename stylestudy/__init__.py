"""stylestudy: evaluation harness for style transfer and image-to-image translation."""

__version__ = "0.1.0"
