-- Referral peer review (issue 15, seeds 000 and 001): GP reviewers, the specialties they
-- review, routine referrals and every step of their review. SQLite flavour; keep in step
-- with ../postgres/0008_referrals.sql.

CREATE TABLE user_roles_new (
    user_id     TEXT NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL CHECK (role IN ('case_manager', 'mdt_member',
                    'emergency_clinician', 'commissioner', 'admin', 'deployment_admin',
                    'gp_reviewer')),
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_new (user_id, role) SELECT user_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_new RENAME TO user_roles;

-- The specialties peer review covers, in the order offered; a deployment edits the list
-- (the seeds' eleven to start with: CASES's ten and CASPeR's Elderly Medicine).
CREATE TABLE referral_specialties (
    name        TEXT PRIMARY KEY,
    position    BIGINT NOT NULL
);
INSERT INTO referral_specialties (name, position) VALUES
    ('Cardiology', 1), ('Dermatology', 2), ('Ear Nose and Throat', 3),
    ('Gastroenterology', 4), ('General Surgery', 5), ('Gynaecology', 6),
    ('Haematology', 7), ('Neurology', 8), ('Respiratory', 9), ('Urology', 10),
    ('Elderly Medicine', 11);

-- Days that are not working days besides weekends, for the 3-working-day deadline:
-- England and Wales bank holidays 2025-2028 (gov.uk); a deployment adds its own.
CREATE TABLE bank_holidays (
    day         TEXT PRIMARY KEY
);
INSERT INTO bank_holidays (day) VALUES
    ('2025-01-01'), ('2025-04-18'), ('2025-04-21'), ('2025-05-05'), ('2025-05-26'),
    ('2025-08-25'), ('2025-12-25'), ('2025-12-26'),
    ('2026-01-01'), ('2026-04-03'), ('2026-04-06'), ('2026-05-04'), ('2026-05-25'),
    ('2026-08-31'), ('2026-12-25'), ('2026-12-28'),
    ('2027-01-01'), ('2027-03-26'), ('2027-03-29'), ('2027-05-03'), ('2027-05-31'),
    ('2027-08-30'), ('2027-12-27'), ('2027-12-28'),
    ('2028-01-03'), ('2028-04-14'), ('2028-04-17'), ('2028-05-01'), ('2028-05-29'),
    ('2028-08-28'), ('2028-12-25'), ('2028-12-26');

-- Which GP reviewer reviews which specialty, and whether they are still being mentored
-- by the specialty's consultants (shown to referrers beside the advice).
CREATE TABLE reviewer_assignments (
    user_id         TEXT NOT NULL REFERENCES users (id),
    specialty       TEXT NOT NULL REFERENCES referral_specialties (name),
    mentored        BOOLEAN NOT NULL,
    assigned_by     TEXT REFERENCES users (id),
    assigned_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (user_id, specialty)
);

-- One routine referral. The patient is copied in (NHS number, name, date of birth) so a
-- referral for a patient not on the caseload stands on its own; patient_id is set when
-- the patient has a plan at the practice. state, deadline and the decided_* columns move
-- only through a step, whose event row is written in the same transaction.
CREATE TABLE referrals (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    referrer_id         TEXT NOT NULL REFERENCES users (id),
    patient_id          TEXT REFERENCES patients (id),
    nhs_number          TEXT NOT NULL,
    patient_name        TEXT NOT NULL,
    date_of_birth       TEXT NOT NULL,
    specialty           TEXT NOT NULL REFERENCES referral_specialties (name),
    urgency             TEXT NOT NULL CHECK (urgency = 'routine'),
    condition           TEXT NOT NULL,
    clinical_question   TEXT NOT NULL,
    relevant_history    TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('awaiting_review', 'question_asked',
                            'forwarded', 'returned', 'advice_acknowledged')),
    received_on         TEXT NOT NULL,
    deadline            TEXT NOT NULL,
    question_asked      BOOLEAN NOT NULL DEFAULT FALSE,
    decided_on          TEXT,
    decided_by          TEXT REFERENCES users (id),
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);
CREATE INDEX referrals_practice ON referrals (organisation_id, created_at_ms);
CREATE INDEX referrals_queue ON referrals (specialty, state, deadline);

-- Every step of a review, in order: the referral's own history.
CREATE TABLE referral_events (
    referral_id     TEXT NOT NULL REFERENCES referrals (id),
    seq             BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    user_name       TEXT NOT NULL,
    organisation    TEXT NOT NULL,
    mentored        BOOLEAN,
    body_json       TEXT NOT NULL,
    at_ms           BIGINT NOT NULL,
    PRIMARY KEY (referral_id, seq)
);
