"""MP4 and H.264 facts, pure: bytes and sample tables in, bytes out.

Boxes (``boxes``), a track's sample index on the presentation timeline
(``index``: the sample tables, ``sample_tables``, read into compact columns,
``samples``; ``index_file`` saves it), the timing each player reads a track's
end from (``timing``), a writer for a clip's ``moov`` and media (``writer``),
and H.264 parameter sets (``avc``). No processes, no event loop: everything
here is tested as plain functions.
"""
