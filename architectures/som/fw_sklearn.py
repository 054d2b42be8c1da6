"""Self-organizing map in scikit-learn: not available (scikit-learn has no self-organizing map)."""

UNSUPPORTED = "scikit-learn has no self-organizing map"
