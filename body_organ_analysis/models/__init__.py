"""Model registry, weights and inference engines."""
