"""Data platform: the synthetic CRM generator and the PostgreSQL CRM loader."""
