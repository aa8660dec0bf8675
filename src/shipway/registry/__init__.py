"""The naming server: services, clusters, instances, health and heartbeats; native REST and the Nacos v1 naming API."""
