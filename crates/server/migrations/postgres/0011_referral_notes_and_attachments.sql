-- Referral peer review, continued (issue 15): the reviewer's education notes to a practice,
-- and the documents a GP system's FHIR ServiceRequest brings with a referral. PostgreSQL
-- flavour; keep in step with ../sqlite/0011_referral_notes_and_attachments.sql.

-- What a GP reviewer learned from a practice's referrals, written to that practice
-- (seed 000: feedback feeds education). Names no patient: the server refuses text holding
-- an NHS number.
CREATE TABLE referral_education_notes (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    author_id       TEXT NOT NULL REFERENCES users (id),
    author_name     TEXT NOT NULL,
    specialty       TEXT NOT NULL REFERENCES referral_specialties (name),
    condition       TEXT,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX referral_education_notes_practice
    ON referral_education_notes (organisation_id, created_at_ms);

-- A document that came with a referral (a ServiceRequest's supportingInfo: a letter, a
-- photograph, results), kept as sent.
CREATE TABLE referral_attachments (
    referral_id     TEXT NOT NULL REFERENCES referrals (id),
    seq             BIGINT NOT NULL,
    title           TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    data            BYTEA NOT NULL,
    PRIMARY KEY (referral_id, seq)
);
