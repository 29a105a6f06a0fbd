"""催收维权助手: rights guidance for borrowers facing abusive debt collection."""

__version__ = "0.1.0"
