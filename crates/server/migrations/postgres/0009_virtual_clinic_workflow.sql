-- Virtual clinics as a workflow (issue 16, seed 004): the clinic's specialty, the
-- pre-clinic data of each patient (imported from a GP system's Observations or typed in
-- by the practice), the specialist's outcome for each patient, and the education sessions
-- the specialist gives the practice.

ALTER TABLE virtual_clinics ADD COLUMN specialty TEXT NOT NULL DEFAULT 'other';

CREATE TABLE virtual_clinic_readings (
    id              TEXT PRIMARY KEY,
    clinic_id       TEXT NOT NULL REFERENCES virtual_clinics (id),
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    measure         TEXT NOT NULL,
    value           TEXT NOT NULL,
    observed_on     TEXT NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('fhir', 'typed')),
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL
);
CREATE INDEX virtual_clinic_readings_patient ON virtual_clinic_readings (clinic_id, patient_id);

CREATE TABLE virtual_clinic_outcomes (
    clinic_id       TEXT NOT NULL REFERENCES virtual_clinics (id),
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    outcome         TEXT NOT NULL
        CHECK (outcome IN ('keep_in_practice', 'locality_clinic', 'refer_to_hub')),
    plan            TEXT NOT NULL,
    follow_up_on    TEXT,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (clinic_id, patient_id)
);

CREATE TABLE virtual_clinic_education (
    id              TEXT PRIMARY KEY,
    clinic_id       TEXT NOT NULL REFERENCES virtual_clinics (id),
    topic           TEXT NOT NULL,
    attendees       TEXT NOT NULL,
    session_date    TEXT NOT NULL,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    recorded_at_ms  BIGINT NOT NULL
);
CREATE INDEX virtual_clinic_education_clinic ON virtual_clinic_education (clinic_id);
