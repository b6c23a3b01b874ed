"""The installer's decisions, downloads and OBS config edits, in plain stdlib Python.

install.ps1 (Windows) and install.sh (Linux/macOS) collect the facts only a shell can get cheaply (where
OBS is, its version, GPU names, which Python to use) and call `python -m obsmatte.installer ...`, so every
choice is made here and tested here. This package must not import numpy, cv2 or onnxruntime: it runs in a
Python that does not have them yet.
"""
