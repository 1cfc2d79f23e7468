"""`python -m observable`: the same command as `observable`."""

from observable.cli import main

raise SystemExit(main())
