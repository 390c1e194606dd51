"""Benchmarks that back every speed claim of the adapter with a reproducible figure.

Run ``python -m bench [--quick] [--out results.json]`` from the checkout. Each
section measures the adapter and a baseline in the same run and prints the
ratio, so that figures from different machines can be compared by their ratios.
See ``docs/performance.md`` for the figures measured and how to read them.
"""
