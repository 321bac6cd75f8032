"""``python -m loaders.demo``: write a demo tree (loaders.demo.trees.trees)."""

import sys

from loaders.demo.trees.trees import main

sys.exit(main())
