-- Patient identity (issue 12). Keep in step with ../sqlite/0004_patient_identity.sql.
--
-- NHS numbers are stored as ten digits: a raw document could once carry spaces or
-- hyphens, and the emergency route (which looks numbers up as digits) never found them.
UPDATE patients SET nhs_number = REPLACE(REPLACE(nhs_number, ' ', ''), '-', '');
UPDATE emergency_summaries SET nhs_number = REPLACE(REPLACE(nhs_number, ' ', ''), '-', '');
UPDATE emergency_feed SET nhs_number = REPLACE(REPLACE(nhs_number, ' ', ''), '-', '');

-- Whether the plan is live (not ended). Projected from the document on every commit.
ALTER TABLE patients ADD COLUMN live BOOLEAN NOT NULL DEFAULT TRUE;

-- A live plan's NHS number is unique across the whole deployment, so the emergency route
-- never has to choose between two plans. The commit path checks first and refuses with a
-- reason; this index is what holds when two instances race. Should an existing database
-- hold two live plans for one number, this migration fails and says so: an operator must
-- decide which is the patient's (docs/operations.md).
CREATE UNIQUE INDEX patients_live_nhs_number ON patients (nhs_number) WHERE live;
