"""Serving streams: Triton Inference Server model repositories, their Python-backend model, and a client."""
