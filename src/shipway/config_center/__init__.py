"""The config center: server (publish, versions, history, rollback, gray release, audit; native REST and Nacos v1 config API) and the client SDK."""
