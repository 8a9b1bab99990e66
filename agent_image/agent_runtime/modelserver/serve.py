"""Run the scripted model server (blocking)."""

import sys

import uvicorn

from agent_runtime import exitcodes
from agent_runtime.modelserver.app import DEFAULT_MAX_REQUEST_BYTES, create_model_app
from agent_runtime.modelserver.scenarios import ScenarioFileError, load_scenarios


def serve(
    host: str,
    port: int,
    scenarios_file: str | None,
    api_key: str | None,
    max_request_bytes: int | None = None,
) -> int:
    if max_request_bytes is not None and max_request_bytes < 1:
        print(f"--max-request-bytes must be at least 1, not {max_request_bytes}", file=sys.stderr)
        return exitcodes.EXIT_CONFIG_INVALID
    try:
        scenarios = load_scenarios(scenarios_file)
    except ScenarioFileError as err:
        print(err, file=sys.stderr)
        return exitcodes.EXIT_CONFIG_INVALID
    app = create_model_app(scenarios, api_key, max_request_bytes or DEFAULT_MAX_REQUEST_BYTES)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    return exitcodes.EXIT_OK
