"""MASAI's import path ``masai.prompts.Template``; see ``masai.prompts``."""
