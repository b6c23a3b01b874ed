"""Matte-quality benchmark and preset tuning (`obs-matting eval`, `obs-matting tune`).

scenes.py builds exact-truth composites per scene, videos.py the temporal sequences, metrics.py scores
alphas, methods.py runs the shipped pipeline (a preset), baseline.py (the peer plugin's default) or
prototype.py (refinements proposed for refine.py) on them, runner.py measures one method on one scene,
evaluate.py runs every method on every scene, report.py writes docs/quality, tune.py searches preset
values, cli.py wires the two subcommands.
"""
