"""Proxy accuracy: datasets, a deterministic short-training trainer and zero-cost proxies.

Everything here answers one question cheaply: how well would this architecture do if
trained fully? ``load_dataset`` gives a dataset at its native resolution (in memory, or
streamed from disk when large), ``train_proxy`` trains briefly as a ``TrainRecipe`` says and
reports held-out accuracy, ``zero_cost.score`` ranks an untrained network from a few batches.
"""
