"""Webhook receivers: one module per forge (GitHub, GitLab, Gitea/Gogs, Bitbucket, generic) that verifies, dedupes and normalises deliveries to PushEvent."""
