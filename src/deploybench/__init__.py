"""deploybench: which LLM deployment should I pick?"""

__version__ = "0.1.0"
