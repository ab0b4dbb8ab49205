"""Where sources live and what they hold: locations (local files, S3), byte readers,
probing, and the demo's generated sample video."""
