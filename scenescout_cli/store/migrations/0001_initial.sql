-- 0001: the public schema (events, event_sources, crawl_runs) and the internal rejects table.

CREATE TABLE events (
    id             uuid PRIMARY KEY,
    city           text NOT NULL,
    title          text NOT NULL,
    description    text,
    starts_at      timestamptz,            -- the true instant; NULL only when the date is TBA
    ends_at        timestamptz,
    timezone       text,                   -- IANA zone of the event
    venue_name     text,
    address        text,
    locality       text,
    postal_code    text,
    country        text,
    lat            double precision CHECK (lat BETWEEN -90 AND 90),
    lon            double precision CHECK (lon BETWEEN -180 AND 180),
    category       text,
    price_min      numeric(12, 2),
    price_max      numeric(12, 2),
    currency       char(3),
    is_free        boolean,
    url            text,
    image_url      text,
    status         text NOT NULL DEFAULT 'scheduled'
                   CHECK (status IN ('scheduled', 'cancelled', 'postponed', 'rescheduled')),
    quality_score  real,
    date_tba       boolean NOT NULL DEFAULT false,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_city_starts_at ON events (city, starts_at);
CREATE INDEX events_category ON events (category);

CREATE TABLE event_sources (
    source      text NOT NULL CHECK (source IN ('ticketmaster', 'eventbrite', 'yelp', 'meetup')),
    source_id   text NOT NULL,
    event_id    uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    url         text,
    fetched_at  timestamptz NOT NULL,
    raw         jsonb NOT NULL,
    PRIMARY KEY (source, source_id)
);
CREATE INDEX event_sources_event_id ON event_sources (event_id);

CREATE TABLE crawl_runs (
    id           bigserial PRIMARY KEY,
    city         text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
    stats        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX crawl_runs_city_started ON crawl_runs (city, started_at DESC);

-- internal: records that failed validation, with their reason (never silently dropped)
CREATE TABLE rejects (
    id          bigserial PRIMARY KEY,
    run_id      bigint REFERENCES crawl_runs (id) ON DELETE SET NULL,
    source      text NOT NULL,
    source_id   text,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    raw         jsonb NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejects_run ON rejects (run_id);
