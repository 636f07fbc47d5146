"""Where a search's trials live: the run directory and its storage (``rundir``), the in-memory mirror the
sampler works on (``mirror``), and which process owns a running trial (``liveness``)."""
