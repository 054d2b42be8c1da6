"""Hopfield network in scikit-learn: not available (scikit-learn has no associative-memory model)."""

UNSUPPORTED = "scikit-learn has no Hopfield network"
