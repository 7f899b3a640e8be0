-- 0002: the per-source, per-key, per-day request ledger (error responses count too).

CREATE TABLE source_quota (
    source      text NOT NULL,
    key_id      text NOT NULL,          -- a fingerprint of the credential, never the key itself
    day         date NOT NULL,          -- UTC day
    requests    integer NOT NULL DEFAULT 0,
    errors      integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, key_id, day)
);
