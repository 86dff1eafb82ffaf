-- Administrators act within their own organisation; a deployment administrator (the new
-- role) acts across organisations. A virtual clinic can be closed before its day ends,
-- and says when and by whom. PostgreSQL flavour; keep in step with
-- ../sqlite/0005_deployment_admin_and_clinic_closing.sql.

ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check CHECK (role IN ('case_manager',
    'mdt_member', 'emergency_clinician', 'commissioner', 'admin', 'deployment_admin'));

ALTER TABLE virtual_clinics ADD COLUMN closed_at_ms BIGINT;
ALTER TABLE virtual_clinics ADD COLUMN closed_by TEXT REFERENCES users (id);
