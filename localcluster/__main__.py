"""`python -m localcluster up|down|status` (the same as `agent-supervisor local ...`)."""

from localcluster.cli import main

raise SystemExit(main(prog="python -m localcluster"))
