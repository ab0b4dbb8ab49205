-- Exports: a clip version written as a standalone MP4 with a human file name.
-- No foreign key to clips: an export keeps describing its bytes after the
-- clip is edited or merged away.
CREATE TABLE exports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clip_id       bigint NOT NULL,
    clip_version  integer NOT NULL CHECK (clip_version >= 1),
    file_name     text NOT NULL CHECK (file_name ~ '^[^/]+\.mp4$'),
    destination   text,  -- NULL: the clip store's exports area
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'done', 'failed')),
    location      text,  -- where the file went, once done
    size_bytes    bigint,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
