-- The job that writes an export: its status stands in for the export's when
-- the job gave up without saying why (a worker that kept crashing).
ALTER TABLE exports ADD COLUMN job_id bigint;
