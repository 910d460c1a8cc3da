-- Role scope tags and assignment filters (docs/graph-api.md), and the filter a deployment profile assignment
-- carries. The built-in Default tag (id '0') is not stored. `role_scope_tag_ids` is a JSON array of tag ids.
-- Each tenant's last issued tag id is kept in `settings` ('role-scope-tag-counter'), so ids are never reused.
CREATE TABLE role_scope_tags (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id           TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    description  TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE assignment_filters (
    tenant_id          TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                 TEXT   NOT NULL,
    display_name       TEXT   NOT NULL,
    description        TEXT   NOT NULL,
    platform           TEXT   NOT NULL,
    rule               TEXT   NOT NULL,
    role_scope_tag_ids TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- 'include' or 'exclude' with the filter's id; both NULL for an assignment without a filter.
ALTER TABLE profile_assignments ADD COLUMN filter_id TEXT;
ALTER TABLE profile_assignments ADD COLUMN filter_type TEXT;
