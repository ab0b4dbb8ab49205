-- What players show of a source and how its clips are cut, recorded at registration.
ALTER TABLE source_videos
    -- Clockwise degrees the display matrix turns the coded picture.
    ADD COLUMN rotation integer NOT NULL DEFAULT 0 CHECK (rotation IN (0, 90, 180, 270)),
    ADD COLUMN display_width integer CHECK (display_width >= 0),
    ADD COLUMN display_height integer CHECK (display_height >= 0),
    -- 'smart' or 'editlist'; NULL for sources registered before it was recorded.
    ADD COLUMN precision text CHECK (precision IN ('smart', 'editlist')),
    ADD COLUMN precision_reason text;

UPDATE source_videos SET display_width = width, display_height = height;

ALTER TABLE source_videos
    ALTER COLUMN display_width SET NOT NULL,
    ALTER COLUMN display_height SET NOT NULL;
