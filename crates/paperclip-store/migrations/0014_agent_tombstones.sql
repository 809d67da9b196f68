-- A deleted agent stays as a tombstone: its runs, costs, comments and activity keep pointing
-- at it, while lists leave it out.
ALTER TABLE agents ADD COLUMN deleted_at timestamptz;
CREATE INDEX agents_company_live ON agents (company_id, created_at, id) WHERE deleted_at IS NULL;
