"""Drift detectors behind one interface (:class:`~leadscore_monitors.detectors.base.DriftDetector`)."""

from leadscore_monitors.detectors.base import DriftDetector, DriftResult, DriftScores, FeatureDrift, WindowData

__all__ = ["DriftDetector", "DriftResult", "DriftScores", "FeatureDrift", "WindowData"]
