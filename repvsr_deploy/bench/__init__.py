"""Measuring what models cost: parameters, FLOPs, timing, and the papers' tables beside them."""
