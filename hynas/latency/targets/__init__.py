"""Registered latency targets; every module here registers its targets on import."""
