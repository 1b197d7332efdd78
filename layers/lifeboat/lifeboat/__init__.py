"""Lifeboat: serverless backup and disaster recovery for EC2 and RDS workloads."""

__version__ = "0.1.0"
