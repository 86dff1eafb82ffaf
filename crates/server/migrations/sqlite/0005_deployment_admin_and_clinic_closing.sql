-- Administrators act within their own organisation; a deployment administrator (the new
-- role) acts across organisations. A virtual clinic can be closed before its day ends,
-- and says when and by whom. SQLite flavour; keep in step with
-- ../postgres/0005_deployment_admin_and_clinic_closing.sql.

CREATE TABLE user_roles_new (
    user_id     TEXT NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL CHECK (role IN ('case_manager', 'mdt_member',
                    'emergency_clinician', 'commissioner', 'admin', 'deployment_admin')),
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_new (user_id, role) SELECT user_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_new RENAME TO user_roles;

ALTER TABLE virtual_clinics ADD COLUMN closed_at_ms BIGINT;
ALTER TABLE virtual_clinics ADD COLUMN closed_by TEXT REFERENCES users (id);
