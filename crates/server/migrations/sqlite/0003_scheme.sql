-- The case management scheme (seed 003): list sizes, risk-tool uploads, exclusions,
-- MDT meetings and virtual clinics. SQLite flavour; keep in step with
-- ../postgres/0003_scheme.sql. Nothing here is ever updated in place except where a
-- column says so: a new list size or risk upload is a new row, so history is kept.

CREATE TABLE practice_list_sizes (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    list_size       BIGINT NOT NULL CHECK (list_size > 0),
    as_of           TEXT NOT NULL,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL
);
CREATE INDEX practice_list_sizes_org ON practice_list_sizes (organisation_id, as_of);

-- One row per accepted upload of the risk tool's output; a rejected file leaves nothing.
CREATE TABLE risk_uploads (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    uploaded_by     TEXT NOT NULL REFERENCES users (id),
    uploaded_at_ms  BIGINT NOT NULL,
    row_count       BIGINT NOT NULL
);
CREATE INDEX risk_uploads_org ON risk_uploads (organisation_id, uploaded_at_ms);

CREATE TABLE risk_scores (
    upload_id   TEXT NOT NULL REFERENCES risk_uploads (id),
    line        BIGINT NOT NULL,
    nhs_number  TEXT NOT NULL,
    risk_score  DOUBLE PRECISION NOT NULL,
    risk_level  BIGINT NOT NULL CHECK (risk_level BETWEEN 1 AND 3),
    as_of       TEXT NOT NULL,
    PRIMARY KEY (upload_id, nhs_number)
);

-- High-risk patients the practice excludes (already receiving comprehensive care, 2.2.2).
-- Lifting an exclusion sets lifted_at_ms; the row stays.
CREATE TABLE scheme_exclusions (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    nhs_number      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL,
    lifted_at_ms    BIGINT
);
CREATE INDEX scheme_exclusions_org ON scheme_exclusions (organisation_id, nhs_number);

CREATE TABLE mdt_meetings (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    meeting_date    TEXT NOT NULL,
    scheduled_by    TEXT NOT NULL REFERENCES users (id),
    scheduled_at_ms BIGINT NOT NULL,
    held            BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX mdt_meetings_org ON mdt_meetings (organisation_id, meeting_date);

CREATE TABLE mdt_attendance (
    meeting_id      TEXT NOT NULL REFERENCES mdt_meetings (id),
    name            TEXT NOT NULL,
    core_role       TEXT NOT NULL,
    organisation    TEXT NOT NULL,
    signed          BOOLEAN NOT NULL,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, name)
);

CREATE TABLE mdt_meeting_patients (
    meeting_id      TEXT NOT NULL REFERENCES mdt_meetings (id),
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    listed_by       TEXT NOT NULL REFERENCES users (id),
    listed_at_ms    BIGINT NOT NULL,
    outcome         TEXT,
    referrals       TEXT,
    outcome_at_ms   BIGINT,
    PRIMARY KEY (meeting_id, patient_id)
);

-- A virtual clinic: a specialist (a user of another organisation) may read the listed
-- plans of the practice between the two instants.
CREATE TABLE virtual_clinics (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    specialist_id   TEXT NOT NULL REFERENCES users (id),
    clinic_date     TEXT NOT NULL,
    opens_at_ms     BIGINT NOT NULL,
    closes_at_ms    BIGINT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (id),
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX virtual_clinics_specialist ON virtual_clinics (specialist_id);

CREATE TABLE virtual_clinic_patients (
    clinic_id   TEXT NOT NULL REFERENCES virtual_clinics (id),
    patient_id  TEXT NOT NULL REFERENCES patients (id),
    PRIMARY KEY (clinic_id, patient_id)
);
