-- Red Folder schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- the same tables and columns, with each backend's own types.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('gp_practice', 'ambulance_service'))
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('case_manager', 'emergency_clinician')),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    password_hash   TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);

-- Access tokens are stored only as SHA-256 hashes: a copy of this table grants nothing.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at_ms);

-- Projection of each plan for caseload lists, rewritten with every committed change.
CREATE TABLE patients (
    id                              TEXT PRIMARY KEY,
    organisation_id                 TEXT NOT NULL REFERENCES organisations (id),
    nhs_number                      TEXT NOT NULL,
    name                            TEXT NOT NULL,
    date_of_birth                   TEXT NOT NULL,
    share_with_mdt                  BOOLEAN NOT NULL,
    share_with_emergency_services   BOOLEAN NOT NULL,
    dnacpr                          TEXT NOT NULL,
    last_updated_at_ms              BIGINT,
    last_updated_by_id              TEXT,
    last_updated_by_name            TEXT,
    created_at_ms                   BIGINT NOT NULL,
    updated_at_ms                   BIGINT NOT NULL
);
CREATE INDEX patients_organisation ON patients (organisation_id);
CREATE INDEX patients_nhs_number ON patients (nhs_number);

-- The Automerge document of each plan as an append-only list of chunks: one compacted
-- snapshot followed by incremental saves. Concatenated in id order they load the document.
CREATE TABLE doc_chunks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id          TEXT NOT NULL REFERENCES patients (id),
    kind            TEXT NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
    data            BLOB NOT NULL,
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX doc_chunks_doc ON doc_chunks (doc_id, id);

-- Projection of each plan for ambulance crews, committed with the change that produced it,
-- so a read never loads a document.
CREATE TABLE emergency_summaries (
    patient_id          TEXT PRIMARY KEY REFERENCES patients (id),
    nhs_number          TEXT NOT NULL,
    consent             BOOLEAN NOT NULL,
    summary_json        TEXT NOT NULL,
    plan_version        TEXT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);
CREATE INDEX emergency_summaries_nhs_number ON emergency_summaries (nhs_number);

-- Every request for an emergency summary, whatever its outcome.
CREATE TABLE audit (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms               BIGINT NOT NULL,
    user_id             TEXT,
    organisation_id     TEXT,
    role                TEXT,
    nhs_number          TEXT NOT NULL,
    patient_id          TEXT,
    outcome             TEXT NOT NULL,
    status              INTEGER NOT NULL,
    route               TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
