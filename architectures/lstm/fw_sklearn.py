"""LSTM in scikit-learn: not available (its neural networks are MLPs only)."""
UNSUPPORTED = "scikit-learn has no recurrent networks"
