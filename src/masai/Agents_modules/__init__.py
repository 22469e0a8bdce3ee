"""The submodules of ``masai.Agents`` (see ``masai/Agents.py``)."""
