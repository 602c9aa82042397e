"""Qualia's built-in plugins: one sub-package each, exposing a ``plugin`` object."""
