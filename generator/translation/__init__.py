"""Two-domain translators: EGSC-IT, CycleGAN, UNIT and MUNIT; training and inference."""
