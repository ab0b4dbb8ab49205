-- Sources and the clips that tile them. The database, not Python, guarantees
-- that a source's clips are mutually exclusive and collectively exhaustive.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE source_videos (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uri           text NOT NULL UNIQUE CHECK (uri <> ''),
    -- numeric, not float: tiling is checked by exact equality of boundaries.
    duration      numeric(14, 6) NOT NULL CHECK (duration > 0),
    container     text NOT NULL,
    video_codec   text NOT NULL,
    audio_codec   text,
    width         integer NOT NULL CHECK (width >= 0),
    height        integer NOT NULL CHECK (height >= 0),
    frame_count   integer NOT NULL CHECK (frame_count > 0),
    keyframes     double precision[] NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    identity      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clips (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id   bigint NOT NULL REFERENCES source_videos (id) ON DELETE CASCADE,
    start_s     numeric(14, 6) NOT NULL,
    end_s       numeric(14, 6) NOT NULL,
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clips_start_not_negative CHECK (start_s >= 0),
    CONSTRAINT clips_start_before_end CHECK (start_s < end_s),
    -- Mutual exclusion. Deferrable so one edit can move two neighbouring
    -- boundaries in either order; immediate unless a transaction defers it.
    CONSTRAINT clips_no_overlap EXCLUDE USING gist (
        source_id WITH =,
        numrange(start_s, end_s, '[)') WITH &&
    ) DEFERRABLE INITIALLY IMMEDIATE
);

CREATE INDEX clips_source_start ON clips (source_id, start_s);

-- Collective exhaustiveness: a source's clips, ordered by start, must run
-- from 0 to the source's duration with each clip starting where the previous
-- one ends. Raised as check_violation so callers can tell it from bugs.
CREATE FUNCTION check_source_tiling(p_source_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_duration numeric;
    v_count bigint;
    v_problem text;
BEGIN
    SELECT duration INTO v_duration FROM source_videos WHERE id = p_source_id;
    IF NOT FOUND THEN
        RETURN;  -- the source itself was deleted; its clips went with it
    END IF;

    SELECT count(*) INTO v_count FROM clips WHERE source_id = p_source_id;
    IF v_count = 0 THEN
        RAISE EXCEPTION 'clips of source % do not tile [0, %): it has no clips',
            p_source_id, v_duration
            USING ERRCODE = 'check_violation', CONSTRAINT = 'clips_tile_source';
    END IF;

    SELECT CASE
             WHEN prev_end IS NULL AND start_s <> 0 THEN format('first clip starts at %s, not 0', start_s)
             WHEN prev_end IS NOT NULL AND start_s > prev_end THEN format('gap [%s, %s)', prev_end, start_s)
             WHEN prev_end IS NOT NULL AND start_s < prev_end THEN format('overlap at %s', start_s)
             WHEN next_start IS NULL AND end_s <> v_duration THEN format('last clip ends at %s, not %s', end_s, v_duration)
           END
      INTO v_problem
      FROM (
        SELECT start_s, end_s,
               lag(end_s) OVER w AS prev_end,
               lead(start_s) OVER w AS next_start
          FROM clips
         WHERE source_id = p_source_id
        WINDOW w AS (ORDER BY start_s, end_s)
      ) ordered
     WHERE (prev_end IS NULL AND start_s <> 0)
        OR (prev_end IS NOT NULL AND start_s <> prev_end)
        OR (next_start IS NULL AND end_s <> v_duration)
     ORDER BY start_s
     LIMIT 1;

    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'clips of source % do not tile [0, %): %', p_source_id, v_duration, v_problem
            USING ERRCODE = 'check_violation', CONSTRAINT = 'clips_tile_source';
    END IF;
END;
$$;

CREATE FUNCTION clips_tiling_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM check_source_tiling(OLD.source_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.source_id <> OLD.source_id) THEN
        PERFORM check_source_tiling(NEW.source_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION sources_tiling_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_source_tiling(NEW.id);
    RETURN NULL;
END;
$$;

-- Deferred to commit, so an edit may pass through non-tiling states inside
-- its transaction but can never commit one.
CREATE CONSTRAINT TRIGGER clips_tile_source
    AFTER INSERT OR UPDATE OR DELETE ON clips
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION clips_tiling_trigger();

CREATE CONSTRAINT TRIGGER source_tiled_by_clips
    AFTER INSERT OR UPDATE OF duration ON source_videos
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION sources_tiling_trigger();
