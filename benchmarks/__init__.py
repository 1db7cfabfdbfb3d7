"""Model-quality benchmarks: leadscore against the baselines a data scientist would build by hand (issue #5).

Run ``python -m benchmarks.quality`` from the repository root; results go to ``benchmarks/out/quality.md``.
"""
