-- 0004: each provider record's normalised form, so that a canonical event can be merged
-- again from all its records whatever order they arrive in, across crawls.

ALTER TABLE event_sources ADD COLUMN record jsonb;
