"""Processes and files: the ffmpeg process pool and the clip cache.

The top-level modules are the pool itself: ffmpeg discovery (``ffmpeg_binary``),
argv (``argv``), one process (``process``), slots, single flight
(``coalesce``), the on-disk cache, pipe-mode streams, and the composition that
answers "the clip for this request" (``clip_pool``). Below them, one package
per noun: ``cutting`` (the smart cut and the edit-list cut), ``sources``
(local and S3 sources, readers, probing) and ``mp4`` (pure MP4/H.264).

Knows nothing of HTTP or SQL: it takes typed requests and returns paths, byte
streams or typed errors.
"""
