"""CNN in scikit-learn: not expressible (its only neural networks are dense MLPs)."""
UNSUPPORTED = "scikit-learn has no convolutional layers"
