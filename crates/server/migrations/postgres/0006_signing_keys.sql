-- Ed25519 keys that sign emergency summaries (docs/operations.md "Signed summaries"),
-- and the caseload DNACPR column made to say "conflicting" where it held a winner.
-- One key is active (retired_at_ms NULL); retired keys stay so that summaries signed with
-- them can still be checked against the published public keys.

CREATE TABLE signing_keys (
    key_id        TEXT PRIMARY KEY,
    secret_hex    TEXT NOT NULL,
    public_hex    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    retired_at_ms BIGINT
);

-- The caseload's DNACPR column once held Automerge's winner while resuscitation decisions
-- conflicted (hazard H1); the stored summary of the same plan says whether they do.
UPDATE patients SET dnacpr = 'conflicting'
WHERE id IN (
    SELECT patient_id FROM emergency_summaries
    WHERE (summary_json::jsonb -> 'resuscitation' ->> 'conflicting') = 'true'
);
