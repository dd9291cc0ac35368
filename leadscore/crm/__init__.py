"""leadscore.crm."""
