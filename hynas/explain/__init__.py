"""Explanation maps of a trained (exported) network: T-TAME, with Grad-CAM as the baseline.

``load`` reads an exported ``model.py`` + weights (or a run's picked trial), ``tame`` trains
the attention mechanism on frozen feature maps, ``gradcam`` computes the baseline,
``metrics`` scores both with Average Drop / Increase in Confidence, ``render`` writes PNGs
and ``pipeline`` ties them together for ``hynas explain``.
"""
