"""MASAI's import path ``masai.AgentManager``: ``AgentManager`` and ``AgentDetails``.

MASAI's docs import both from the package and from ``masai.AgentManager.AgentManager``; the
package's ``AgentManager`` attribute is the class (importing the module of the same name first
makes that module importable by its full name too).
"""

from .AgentManager import AgentDetails, AgentManager

__all__ = ("AgentDetails", "AgentManager")
