"""Boltzmann machine in scikit-learn: not available (only the restricted BernoulliRBM exists)."""

UNSUPPORTED = "scikit-learn has no Boltzmann machine (only the restricted BernoulliRBM)"
