"""``python -m reelforge``."""

from reelforge.cli import main

main()
