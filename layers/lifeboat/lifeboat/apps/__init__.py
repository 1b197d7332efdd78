"""Applications: tiers of instances, Auto Scaling groups and databases recovered as one unit
(docs: Concepts, Applications)."""
