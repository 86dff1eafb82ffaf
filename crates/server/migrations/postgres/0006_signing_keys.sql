-- Ed25519 keys that sign emergency summaries (docs/operations.md "Signed summaries").
-- One key is active (retired_at_ms NULL); retired keys stay so that summaries signed with
-- them can still be checked against the published public keys. Same in both flavours.

CREATE TABLE signing_keys (
    key_id        TEXT PRIMARY KEY,
    secret_hex    TEXT NOT NULL,
    public_hex    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    retired_at_ms BIGINT
);
