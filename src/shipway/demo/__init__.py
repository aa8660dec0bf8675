"""``shipway demo``: the example service's repository, project, hook, config and environments.

Sets up what a newcomer needs to push a first change: a local bare git repository seeded with
``examples/hello-service``, the project registered with its webhook secret, a ``post-receive`` hook that
posts a signed GitHub-format push webhook (so ``git push`` starts the pipeline exactly as a forge would),
the initial greeting in the config center and the namespaces the pipeline deploys to.
Everything goes through shipway's public REST API.
"""
