"""Processes and files: ffmpeg discovery, probing, argv, slots, the clip cache.

Knows nothing of HTTP or SQL: it takes typed requests and returns paths, byte
streams or typed errors.
"""
