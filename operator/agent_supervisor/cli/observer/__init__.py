"""`agent-supervisor observer`: a web page of the live supervision trees (server.py; view.py decides what
it shows, purely)."""
