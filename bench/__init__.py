"""Benchmarks of porevae's kernels against the pure-PyTorch / SciPy versions (see RESULTS.md)."""
