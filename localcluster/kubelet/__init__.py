"""The process kubelet of the local cluster: node ``local`` runs each pod's containers as local processes.

Entry points: :class:`localcluster.kubelet.kubelet.Kubelet` (talks to the API server) and
:class:`localcluster.kubelet.pod.PodWorker` (runs one pod). See docs/local-cluster.md.
"""
