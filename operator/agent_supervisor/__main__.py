import sys

from agent_supervisor.cli import main

sys.exit(main())
