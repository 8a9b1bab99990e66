"""An in-process Kubernetes API server emulator (development and test tool, never a production runtime).

server = ApiServer(state_dir)
await server.start()                  # listens on http://127.0.0.1:<free port>
server.write_kubeconfig(path)         # for kubectl, helm, kopf, the kubernetes client
server.faults.fail_next("PATCH", r"/agents/", 500, count=2)
await server.stop()
"""

from localcluster.apiserver.faults import Faults
from localcluster.apiserver.logs import pod_log_path
from localcluster.apiserver.server import DEFAULT_TOKEN, ApiServer
from localcluster.apiserver.thread import ServerThread

__all__ = ["DEFAULT_TOKEN", "ApiServer", "Faults", "ServerThread", "pod_log_path"]
