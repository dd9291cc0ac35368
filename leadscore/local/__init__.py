"""leadscore.local."""
