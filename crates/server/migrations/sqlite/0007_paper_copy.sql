-- Whether the paper copy of the yellow pages in the patient's home still says what the
-- plan says (issue 14; docs/hazard-log.md H3). Projected from the plan's `paper_copy`
-- register on every stored change, like `dnacpr`. No plan recorded a print before this
-- migration (the edit is new with it), so every existing row is honestly 'not_printed'.
ALTER TABLE patients ADD COLUMN paper_copy TEXT NOT NULL DEFAULT 'not_printed';
ALTER TABLE patients ADD COLUMN paper_copy_label TEXT NOT NULL DEFAULT
    'No paper copy of the yellow pages is recorded in the home: print one';
