"""obsmatte: the real-time matting engine behind the OBS filter and the `obs-matting` command line.

Nothing in this package imports OBS except the `obsmatte.obs` subpackage.
"""
__version__ = "0.1.0"
