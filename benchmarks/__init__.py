"""County-scale benchmarks: a data generator, a load harness and the stack's own ceiling.

Nothing here is imported by the product; see docs/performance.md.
"""
