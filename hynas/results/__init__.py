"""Results: trials read back from a run, Pareto front and hypervolume (data), plots (drawing)."""
