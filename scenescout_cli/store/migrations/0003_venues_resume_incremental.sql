-- 0003: venues (Google Places), crash-safe resume, incremental crawls, idempotent rejects.

-- The city's venues, as venue directories describe them.
CREATE TABLE venues (
    source         text NOT NULL,
    source_id      text NOT NULL,
    city           text NOT NULL,
    name           text NOT NULL,
    address        text,
    locality       text,
    postal_code    text,
    country        text,
    lat            double precision CHECK (lat BETWEEN -90 AND 90),
    lon            double precision CHECK (lon BETWEEN -180 AND 180),
    timezone       text,
    types          text[] NOT NULL DEFAULT '{}',
    website        text,
    rating         real,
    rating_count   integer,
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_id)
);
CREATE INDEX venues_city ON venues (city);

-- Incremental crawls: a hash of each provider record as last stored.
ALTER TABLE event_sources ADD COLUMN content_hash text;
ALTER TABLE event_sources ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();

-- A crawl's plan: its arguments and window. An open plan with the same arguments is
-- resumed by the next crawl (within a few hours) instead of starting over.
CREATE TABLE crawl_plans (
    id           bigserial PRIMARY KEY,
    city         text NOT NULL,
    fingerprint  text NOT NULL,            -- hash of (city, area, sources, days)
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'complete')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crawl_plans_open ON crawl_plans (city, fingerprint, created_at DESC) WHERE status = 'open';

-- Each query's progress, committed with the records of the page it describes.
CREATE TABLE query_progress (
    plan_id     bigint NOT NULL REFERENCES crawl_plans (id) ON DELETE CASCADE,
    query_key   text NOT NULL,
    state       text NOT NULL CHECK (state IN ('split', 'paging', 'done')),
    cursor      jsonb,                     -- the next page's cursor while paging
    pages       integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, query_key)
);

-- Per (source, city): what the last crawl of that source in that city did.
CREATE TABLE source_state (
    source        text NOT NULL,
    city          text NOT NULL,
    last_run_id   bigint REFERENCES crawl_runs (id) ON DELETE SET NULL,
    last_crawl_at timestamptz NOT NULL,
    state         text NOT NULL,
    records       integer NOT NULL DEFAULT 0,
    unchanged     integer NOT NULL DEFAULT 0,
    errors        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (source, city)
);

-- Rejects: one row per bad record and reason (the latest rejection), so a page fetched
-- again after a crash does not list its bad records twice.
ALTER TABLE rejects ADD COLUMN record_key text;
UPDATE rejects SET record_key = coalesce(source_id, md5(raw::text));
ALTER TABLE rejects ALTER COLUMN record_key SET NOT NULL;
CREATE UNIQUE INDEX rejects_record_reason ON rejects (source, record_key, reason);
