"""Tests against the real OBS Studio (a package so its conftest does not shadow tests/conftest.py)."""
