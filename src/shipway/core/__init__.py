"""The shared core: settings, errors, ZooKeeper, SQL store, auth and local services.

``core`` imports no other part of shipway; every other part may import it.
"""
