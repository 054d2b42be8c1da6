"""RNN in scikit-learn: not available (its neural networks are feed-forward MLPs only)."""
UNSUPPORTED = "scikit-learn has no recurrent networks"
