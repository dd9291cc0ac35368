"""Progressive delivery: registry -> immutable per-version storage -> InferenceService, canary analysis."""
