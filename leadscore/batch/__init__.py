"""Batch scoring: the champion scores every gold lead (PySpark), results to Delta and the CRM."""
