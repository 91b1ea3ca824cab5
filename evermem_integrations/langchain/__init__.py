"""LangChain and LangGraph adapters for EverMem (install the ``langchain`` extra).

Current paths (LangChain 1.x):

* :class:`EverMemMiddleware` - ``create_agent(..., middleware=[EverMemMiddleware(mem)])``
* :class:`EverMemRetriever` - memories as ``Document``s for LCEL chains
* :class:`EverMemStore` - a LangGraph ``BaseStore`` (``create_agent(..., store=...)``)
* :func:`with_memory` - wrap any LCEL runnable

Legacy paths: :class:`EverMemMemory` (langchain-classic ``BaseMemory``) and
:class:`EverMemChatMessageHistory` (``RunnableWithMessageHistory``).
"""

from evermem_integrations.langchain.chat_history import EverMemChatMessageHistory
from evermem_integrations.langchain.classic_memory import EverMemMemory
from evermem_integrations.langchain.middleware import EverMemMiddleware
from evermem_integrations.langchain.retriever import EverMemRetriever
from evermem_integrations.langchain.runnable import EverMemRunnable, with_memory
from evermem_integrations.langchain.store import EverMemStore

__all__ = [
    "EverMemChatMessageHistory",
    "EverMemMemory",
    "EverMemMiddleware",
    "EverMemRetriever",
    "EverMemRunnable",
    "EverMemStore",
    "with_memory",
]
