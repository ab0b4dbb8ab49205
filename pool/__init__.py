"""Processes and files: the ffmpeg process pool and the clip cache.

The top-level modules are the pool itself: the composition that answers "the
clip for this request" (``clip_pool``, its answers in ``answers``), the runs
it starts as single flights (``runs``, ``coalesce``), the on-disk cache and
the shared store behind it (``shared_store``), slots, the cuts (``cuts``) and
the supervisor of every ffmpeg they start (``supervisor``), one process
(``process``, with ``priority`` and ``uncancellable``), ffmpeg discovery
(``ffmpeg_binary``), argv (``argv``) and pipe-mode streams (``stream``).
Below them, one package per noun: ``cutting`` (the smart cut and the
edit-list cut), ``sources`` (local and S3 sources, readers, probing) and
``mp4`` (pure MP4/H.264).

Knows nothing of HTTP or SQL: it takes typed requests and returns paths, byte
streams or typed errors.
"""
