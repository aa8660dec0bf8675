"""The discovery client SDK: register, subscribe, cache, choose an instance, failover snapshot."""
