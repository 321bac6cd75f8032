"""``python -m loaders.demo``: write a demo tree (loaders.demo.trees)."""

import sys

from loaders.demo.trees import main

sys.exit(main())
