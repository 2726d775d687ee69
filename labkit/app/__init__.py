"""``labkit explore``: the embedding explorer on your own embeddings, as a web app at a local URL.

``labkit explore FEATURES [--labels FILE] [--meta CSV] [--images DIR|NPY] [--texts FILE]
[--compare FEATURES2] [--projection umap|pca|tsne] [--port N] [--no-browser]`` reads and checks
every file (:mod:`.load`), computes the projection into the on-disk cache, and serves one page
with Voila whose kernel opens :class:`labkit.explorer.EmbeddingExplorer` on them (:mod:`.page`).
The saved-embeddings folder that ``labkit cll|imbalanced|clip --save-embeddings DIR`` writes is
described in :mod:`.folder`; the command itself is :mod:`.command`. See docs/explore.md.
"""
from .command import main

__all__ = ["main"]
