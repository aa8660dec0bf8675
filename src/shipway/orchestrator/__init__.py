"""The mini orchestrator: Kubernetes-shaped API objects stored on ZooKeeper, controllers, the node agent running pods on Docker, the service proxy."""
