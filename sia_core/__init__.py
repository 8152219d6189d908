"""sia: self-improving AI through harness and weight updates."""

__version__ = "0.1.0"
