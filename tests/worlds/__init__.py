"""The worlds the unit tests build, one module per feature (see docs/development/testing.md)."""
