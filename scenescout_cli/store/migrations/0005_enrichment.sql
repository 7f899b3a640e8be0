-- 0005: processing — optimised images, the geocode cache.

-- One row per source image URL: its optimised variants (or why it failed).
CREATE TABLE images (
    source_url    text PRIMARY KEY,
    content_hash  text,                  -- sha256 of the original bytes
    width         integer,
    height        integer,
    blurhash      text,
    phash         text,                  -- 64-bit perceptual hash, hex
    variants      jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{width, height, path, bytes}]
    error         text,                  -- reason slug when processing failed
    processed_at  timestamptz NOT NULL DEFAULT now()
);

-- Which images belong to which event.
CREATE TABLE event_images (
    event_id    uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    source_url  text NOT NULL REFERENCES images (source_url) ON DELETE CASCADE,
    PRIMARY KEY (event_id, source_url)
);

-- Geocoder answers per normalised address (found or not), so reruns make no calls.
CREATE TABLE geocode_cache (
    address    text PRIMARY KEY,
    result     jsonb,                    -- NULL: the geocoder found nothing
    cached_at  timestamptz NOT NULL DEFAULT now()
);
