"""hynas: design-space exploration and multi-objective NAS for hybrid conv + attention networks."""

__version__ = "0.1.0"
