"""Allow ``python -m qnnc``."""
from qnnc.cli import main

raise SystemExit(main())
