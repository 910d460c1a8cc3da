-- SQLite only. Memberships are the bulk of an import's writes (8.5 rows a device in the import benchmark) and
-- every member page walks a group's memberships in member order. As a rowid table each membership was
-- written twice (the row, and the primary key's own index) and a page looked every member's row up by
-- rowid. Clustered on its primary key (WITHOUT ROWID: the rows are small), a membership is one entry of
-- the key's b-tree, and a page reads its members straight from it (docs/benchmarks.md, "Listings packed
-- when written").
CREATE TABLE group_members_clustered (
    tenant_id   TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    source      TEXT NOT NULL,
    member_type TEXT NOT NULL DEFAULT 'device',
    -- No foreign keys: membership is the hottest write of an import, and its two parents are only deleted
    -- through `delete_group` / `delete_directory_device`, which delete the memberships explicitly in the
    -- same transaction.
    PRIMARY KEY (tenant_id, group_id, member_id)
) WITHOUT ROWID;
INSERT INTO group_members_clustered (tenant_id, group_id, member_id, source, member_type)
    SELECT tenant_id, group_id, member_id, source, member_type FROM group_members;
DROP TABLE group_members;
ALTER TABLE group_members_clustered RENAME TO group_members;
CREATE INDEX group_members_by_member ON group_members (tenant_id, member_id);
CREATE INDEX group_members_users ON group_members (tenant_id, group_id, member_id) WHERE member_type = 'user';
