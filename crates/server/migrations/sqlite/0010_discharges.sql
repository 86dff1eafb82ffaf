-- Issue 16: discharges from case management (seed 003 step 17), the practice's over-75
-- list for the annual review register, and MDT meetings seen by invited members. SQLite flavour; keep in step with
-- ../postgres/0010_discharges.sql. The plan itself records that it ended (through the
-- normal lifecycle edit); a row here keeps what the decision rested on, the steps taken
-- and the letter the GP was sent. Rows are never updated.
CREATE TABLE scheme_discharges (
    id                      TEXT PRIMARY KEY,
    organisation_id         TEXT NOT NULL REFERENCES organisations (id),
    patient_id              TEXT NOT NULL REFERENCES patients (id),
    decision                TEXT NOT NULL,
    discharge_date          TEXT NOT NULL,
    on_list                 TEXT NOT NULL,
    still_in_top_5_percent  BOOLEAN NOT NULL,
    exceptional             BOOLEAN NOT NULL,
    over_75                 BOOLEAN NOT NULL,
    risk_source             TEXT NOT NULL,
    tier                    TEXT,
    patient_told_on         TEXT,
    questionnaire_sent_on   TEXT,
    mdt_meeting_id          TEXT REFERENCES mdt_meetings (id),
    notes                   TEXT NOT NULL,
    gp_letter               TEXT NOT NULL,
    recorded_by             TEXT NOT NULL REFERENCES users (id),
    recorded_by_name        TEXT NOT NULL,
    recorded_at_ms          BIGINT NOT NULL
);
CREATE INDEX scheme_discharges_org ON scheme_discharges (organisation_id, discharge_date);
CREATE INDEX scheme_discharges_patient ON scheme_discharges (patient_id);

-- The practice's over-75 list as it gave it: either a size alone or the NHS numbers
-- (then the size is their count). A new list is a new row; the latest is the register's.
CREATE TABLE over_75_lists (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    list_size       BIGINT NOT NULL CHECK (list_size >= 0),
    as_of           TEXT NOT NULL,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL
);
CREATE INDEX over_75_lists_org ON over_75_lists (organisation_id, recorded_at_ms);

CREATE TABLE over_75_list_patients (
    list_id     TEXT NOT NULL REFERENCES over_75_lists (id),
    nhs_number  TEXT NOT NULL,
    PRIMARY KEY (list_id, nhs_number)
);

-- MDT meetings: how long each ran (the audit asks for the schedule and the meetings held),
-- and the members from other organisations invited to one, who see its schedule and
-- patient list (never a plan their own access does not reach).
ALTER TABLE mdt_meetings ADD COLUMN duration_minutes BIGINT;

CREATE TABLE mdt_meeting_members (
    meeting_id      TEXT NOT NULL REFERENCES mdt_meetings (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    invited_by      TEXT NOT NULL REFERENCES users (id),
    invited_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);
CREATE INDEX mdt_meeting_members_user ON mdt_meeting_members (user_id);
