"""Benchmarks (not tests): run with ``make bench``; results go to docs/benchmarks.md.

- ``python -m bench.clip_latency``: cold and warm latency of the origin against
  raw ffmpeg, a full re-encode and nginx's mp4 module; writes the whole page.
- ``python -m bench.responsiveness``: cheap answers while the pool is saturated;
  writes its own marked section of the page.
- ``python -m bench.warming``: first plays after an edit and cuts per clip version
  with background warming; its own section.
- ``python -m bench.cold_start``: a fresh ``origin serve``'s start to its first
  answers (scale to zero); its own section.
- ``python -m bench.client_styles``: the warm and cold ratios as a fresh
  connection, keep-alive, ``http.client`` and curl see them; its own section.
- ``python -m bench.smartcut_peer``: the ``smartcut`` CLI (PyPI) against the
  origin's smart cut on the same clips; its own section.
- ``python -m bench.registration``: probing a two-hour source from its index,
  local and in S3, against the full packet scan; its own section.
- ``python -m bench.long_gop``: cold smart cuts of a 1080p60 source with 4 s GOPs,
  before and after the short-segment x264 settings, and where their time goes;
  its own section.
- contenders/: one page per contender of the latency benchmark.
- saturation/: the responsiveness benchmark's clients, phases and /proc readings.
- runner/: what both run on: servers, the source, timed fetches, statistics.
- report/: the page's text and tables, and writing it.
"""
