"""Relevance metrics (through ranx) and latency summaries."""
