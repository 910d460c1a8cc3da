-- Users are members of static groups too. A membership says which kind of object its member is, so a
-- group's user members are read through their own (small) index instead of past every device member.
ALTER TABLE group_members ADD COLUMN member_type TEXT NOT NULL DEFAULT 'device';
CREATE INDEX group_members_users ON group_members (tenant_id, group_id, member_id) WHERE member_type = 'user';
