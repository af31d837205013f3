"""Load benchmarks (`make bench` runs `python -m bench.load`); figures go to docs/performance.md."""
