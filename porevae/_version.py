"""The package version (read by the CLI without importing the heavy modules)."""

__version__ = "0.1.0"
