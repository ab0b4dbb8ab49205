-- Live updates: every change to a source's clips, from any replica or the CLI,
-- notifies channel 'origin_clips' with the source's id, so each replica can
-- tell the review pages open on that source to read its clips again.
-- PostgreSQL delivers notifications at commit (none for a rolled-back edit)
-- and folds identical ones within a transaction: an edit that touches three
-- clips of a source sends one notification.
CREATE FUNCTION clips_notify_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('origin_clips', OLD.source_id::text);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.source_id <> OLD.source_id) THEN
        PERFORM pg_notify('origin_clips', NEW.source_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER clips_notify
    AFTER INSERT OR UPDATE OR DELETE ON clips
    FOR EACH ROW EXECUTE FUNCTION clips_notify_trigger();
