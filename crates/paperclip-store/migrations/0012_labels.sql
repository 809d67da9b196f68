-- Company labels and the issues they mark.
CREATE TABLE labels (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 48),
    color text NOT NULL CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX labels_company_name ON labels (company_id, lower(name));
CREATE TRIGGER labels_touch BEFORE UPDATE ON labels
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE issue_labels (
    issue_id uuid NOT NULL REFERENCES issues (id),
    label_id uuid NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    company_id uuid NOT NULL REFERENCES companies (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issue_id, label_id)
);
CREATE INDEX issue_labels_label ON issue_labels (label_id);
