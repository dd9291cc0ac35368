"""leadscore.registry."""
