-- A tenant's verified domains: its default (the tenants.domain it was created with) and any added since.
-- A domain is verified by one tenant only: /common sign-in and the user realm find the tenant by it.
CREATE TABLE tenant_domains (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    domain       TEXT   NOT NULL,
    domain_lower TEXT   NOT NULL,
    is_default   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, domain_lower)
);
-- GLOBAL: one domain, one tenant.
CREATE UNIQUE INDEX tenant_domains_by_domain ON tenant_domains (domain_lower);

-- Existing tenants: each default domain becomes verified; where two tenants were created with the same domain
-- (possible before this migration), the older tenant keeps it.
INSERT INTO tenant_domains (tenant_id, domain, domain_lower, is_default, created_at)
SELECT t.tenant_id, t.domain, LOWER(t.domain), 1, t.created_at
FROM tenants t
WHERE t.tenant_id = (
    SELECT MIN(o.tenant_id) FROM tenants o
    WHERE LOWER(o.domain) = LOWER(t.domain)
      AND o.created_at = (SELECT MIN(p.created_at) FROM tenants p WHERE LOWER(p.domain) = LOWER(t.domain))
);
