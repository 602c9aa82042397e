"""HTTP access to the Qualia engine (FastAPI)."""
