"""Run the scripted model server (blocking)."""

import sys

import uvicorn

from agent_runtime import exitcodes
from agent_runtime.modelserver.app import create_model_app
from agent_runtime.modelserver.scenarios import ScenarioFileError, load_scenarios


def serve(host: str, port: int, scenarios_file: str | None, api_key: str | None) -> int:
    try:
        scenarios = load_scenarios(scenarios_file)
    except ScenarioFileError as err:
        print(err, file=sys.stderr)
        return exitcodes.EXIT_CONFIG_INVALID
    app = create_model_app(scenarios, api_key)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    return exitcodes.EXIT_OK
