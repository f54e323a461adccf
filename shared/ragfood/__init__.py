"""RAGFood core: shared by both Lambda functions (as a layer), the CLI and the local API server.

Submodules are imported on demand so that a cold start pays only for what a handler uses.
"""

__version__ = "0.1.0"
