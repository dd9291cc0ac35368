"""Medallion lakehouse: bronze/silver/gold Delta tables built by PySpark from the CRM, files or CSV."""
