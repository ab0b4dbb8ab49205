"""PostgreSQL: connections, migrations, MECE constraints, clip edits, the embedded cluster.

Returns plain typed records; knows nothing of HTTP or processes beyond the
embedded cluster's server binaries.
"""
