"""The knowledge base: model classes, TOML loader, validation and graph export.

Examples
--------
>>> from twitchcds.knowledge import load_knowledge_base
>>> load_knowledge_base().condition_index["hypokalemia"].category
'metabolic'
"""

from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.loader import load_knowledge_base

__all__ = ["KnowledgeBase", "load_knowledge_base"]
