"""Cutting a clip out of a source, on top of the MP4 package.

The smart cut's plan (``smart_plan``: which frames to copy, which to
re-encode) and its assembly (``smart_cut``), and the edit-list cut's rewrite
of ffmpeg's stream copy into an exact file (``editlist``). The ffmpeg runs
themselves belong to the pool; this package builds their argv and the bytes
around them.
"""
