-- no-transaction
-- Identities, devices, care teams, the emergency feed and the hash-chained audit log.
-- SQLite flavour; keep in step with ../postgres/0002_access.sql.
--
-- SQLite cannot change a CHECK constraint in place, so `organisations` and `users` are
-- rebuilt. Rebuilding a table that others reference needs foreign keys off, which SQLite
-- only allows outside a transaction: hence `no-transaction` above and the explicit
-- BEGIN/COMMIT around every change below.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE organisations_new (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('gp_practice', 'community_health_service',
                    'social_care', 'voluntary_sector', 'out_of_hours_provider',
                    'ambulance_service', 'emergency_department', 'commissioner'))
);
INSERT INTO organisations_new (id, code, name, kind) SELECT id, code, name, kind FROM organisations;
DROP TABLE organisations;
ALTER TABLE organisations_new RENAME TO organisations;

-- A user holds one or more roles (user_roles); a disabled user cannot sign in and their
-- devices are told to erase their data.
CREATE TABLE users_new (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    password_hash   TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    disabled_at_ms  BIGINT
);
INSERT INTO users_new (id, username, name, organisation_id, password_hash, created_at_ms)
    SELECT id, username, name, organisation_id, password_hash, created_at_ms FROM users;
CREATE TABLE user_roles (
    user_id     TEXT NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL CHECK (role IN ('case_manager', 'mdt_member',
                    'emergency_clinician', 'commissioner', 'admin')),
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles (user_id, role) SELECT id, role FROM users;
DROP TABLE sessions;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_organisation ON users (organisation_id);

-- A device is registered at sign-in; tokens are bound to it and revoking it ends them all.
CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    label           TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    last_seen_at_ms BIGINT NOT NULL,
    revoked_at_ms   BIGINT
);
CREATE INDEX devices_user ON devices (user_id);

-- Access tokens (short-lived) and refresh tokens (long-lived, single use), stored only as
-- SHA-256 hashes: a copy of these tables grants nothing.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    device_id       TEXT NOT NULL REFERENCES devices (id),
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    revoked_at_ms   BIGINT
);
CREATE INDEX sessions_expiry ON sessions (expires_at_ms);
CREATE INDEX sessions_device ON sessions (device_id);

CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    device_id       TEXT NOT NULL REFERENCES devices (id),
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    used_at_ms      BIGINT,
    revoked_at_ms   BIGINT
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);

-- Failed sign-ins, per account ('user:NAME') and per address ('addr:IP'), for throttling.
CREATE TABLE login_failures (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    subject     TEXT NOT NULL,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (subject, at_ms);

-- Which device an Automerge actor belongs to, recorded when the server first accepts one
-- of its changes: from then on only that device may submit that actor's changes.
CREATE TABLE actors (
    actor               TEXT PRIMARY KEY,
    device_id           TEXT NOT NULL REFERENCES devices (id),
    user_id             TEXT NOT NULL REFERENCES users (id),
    first_seen_at_ms    BIGINT NOT NULL
);

-- The organisations in a patient's care team, maintained by the patient's case managers.
-- Held here until the care plan document gains its own care-team field.
CREATE TABLE care_team (
    patient_id          TEXT NOT NULL REFERENCES patients (id),
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    added_by_user_id    TEXT,
    added_at_ms         BIGINT NOT NULL,
    PRIMARY KEY (patient_id, organisation_id)
);
CREATE INDEX care_team_organisation ON care_team (organisation_id);

-- Who committed the change that produced the stored summary, as the server knows it.
ALTER TABLE emergency_summaries ADD COLUMN updated_by_user_id TEXT;
ALTER TABLE emergency_summaries ADD COLUMN updated_by_name TEXT;
ALTER TABLE emergency_summaries ADD COLUMN updated_by_organisation TEXT;

-- Counters handed out under a row lock, so numbers are assigned in commit order even with
-- several server instances: 'feed' numbers the emergency feed, 'audit' is the head of the
-- audit chain (last sequence number and its hash).
CREATE TABLE sequences (
    name    TEXT PRIMARY KEY,
    value   BIGINT NOT NULL,
    hash    TEXT NOT NULL
);
INSERT INTO sequences (name, value, hash) VALUES
    ('feed', 0, ''),
    ('audit', 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Every change to a consenting patient's emergency summary, and every withdrawal, in
-- commit order. A withdrawal clears the summaries of that patient's earlier items.
CREATE TABLE emergency_feed (
    seq             BIGINT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    nhs_number      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('summary', 'withdrawal')),
    summary_json    TEXT,
    at_ms           BIGINT NOT NULL
);
CREATE INDEX emergency_feed_patient ON emergency_feed (patient_id);

-- The summary-read log written before the audit chain existed; kept, no longer written.
ALTER TABLE audit RENAME TO audit_before_chain;

-- The audit log: append-only, each entry's hash covering its fields and the previous hash.
CREATE TABLE audit_log (
    seq             BIGINT PRIMARY KEY,
    at_ms           BIGINT NOT NULL,
    user_id         TEXT,
    username        TEXT,
    role            TEXT,
    organisation_id TEXT,
    device_id       TEXT,
    patient_id      TEXT,
    subject         TEXT NOT NULL,
    action          TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    detail          TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

COMMIT;
PRAGMA foreign_keys = ON;
