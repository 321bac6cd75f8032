"""Demo and test-tree generators, out of the product's import path (``python -m loaders.demo``)."""
