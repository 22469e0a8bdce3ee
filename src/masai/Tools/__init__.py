"""Compatibility package: the original MASAI's import paths (``masai.Tools.utilities.…``)."""
