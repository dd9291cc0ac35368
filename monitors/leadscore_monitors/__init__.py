"""leadscore monitors: CloudEvent consumers of the KServe payload logger."""
