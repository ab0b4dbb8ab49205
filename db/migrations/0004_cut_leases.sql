-- Cut leases: which process is cutting which clip right now, fleet-wide, so
-- that another replica waits for that cut (and reads it from the clip store)
-- instead of cutting the same clip again. A lease expires on its own: a
-- process that dies mid-cut blocks nobody for long. UNLOGGED: leases are
-- worthless after a database crash, and writing them to the WAL would cost
-- every cold cut a flush.
CREATE UNLOGGED TABLE cut_leases (
    cache_key   text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL
);
