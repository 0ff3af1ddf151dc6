"""Benchmarks: every figure is measured next to a baseline from the same run and reported as a ratio.

The machines these run on are shared and noisy, so absolute numbers move from run to run; the ratio to a
baseline measured seconds earlier on the same machine is what the targets are written against.
Run them all with `python -m benchmarks` (see `benchmarks/__main__.py`).
"""
