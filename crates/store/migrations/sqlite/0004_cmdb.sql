-- Configuration management: CI types with their attribute sets, CIs, and typed relationships
-- between CIs. Times are microseconds since the Unix epoch, UTC.
CREATE TABLE ci_types (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    -- The attribute definitions (name, label, kind, required) as JSON.
    attributes TEXT NOT NULL,
    builtin BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE cis (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    type_id BIGINT NOT NULL REFERENCES ci_types(id),
    status TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    team_id BIGINT REFERENCES teams(id),
    -- A CI of type service stands for this catalogue service.
    service_id BIGINT REFERENCES services(id),
    -- The customer organisation this CI serves, if it is dedicated to one.
    organization_id BIGINT REFERENCES organizations(id),
    -- The attribute values as JSON, checked against the type's attribute set.
    attributes TEXT NOT NULL,
    description TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (type_id, name)
);
CREATE INDEX cis_service ON cis(service_id);
-- source --relation--> target, e.g. app "runs on" vm, vm "runs on" server.
CREATE TABLE ci_relationships (
    id INTEGER PRIMARY KEY,
    source_id BIGINT NOT NULL REFERENCES cis(id),
    target_id BIGINT NOT NULL REFERENCES cis(id),
    relation TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (source_id, target_id, relation)
);
CREATE INDEX ci_relationships_target ON ci_relationships(target_id, source_id);
