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
CREATE INDEX cis_updated ON cis(updated_at, id);
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
-- Name, description and attribute values of each CI, segmented (store::search).
CREATE VIRTUAL TABLE ci_search USING fts5(doc, tokenize = 'unicode61');
-- The built-in CI types and their attribute sets.
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('server', '服务器', 'Server', '[{"name": "hostname", "label_zh": "主机名", "label_en": "Hostname", "kind": "text", "required": true}, {"name": "ip", "label_zh": "IP 地址", "label_en": "IP address", "kind": "ip", "required": false}, {"name": "os", "label_zh": "操作系统", "label_en": "Operating system", "kind": "text", "required": false}, {"name": "cpu", "label_zh": "CPU 核数", "label_en": "CPU cores", "kind": "number", "required": false}, {"name": "memory_gb", "label_zh": "内存 (GB)", "label_en": "Memory (GB)", "kind": "number", "required": false}, {"name": "serial", "label_zh": "序列号", "label_en": "Serial number", "kind": "text", "required": false}]', 1, 1, 0, 0);
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('virtual_machine', '虚拟机', 'Virtual machine', '[{"name": "hostname", "label_zh": "主机名", "label_en": "Hostname", "kind": "text", "required": true}, {"name": "ip", "label_zh": "IP 地址", "label_en": "IP address", "kind": "ip", "required": false}, {"name": "os", "label_zh": "操作系统", "label_en": "Operating system", "kind": "text", "required": false}, {"name": "cpu", "label_zh": "vCPU 数", "label_en": "vCPUs", "kind": "number", "required": false}, {"name": "memory_gb", "label_zh": "内存 (GB)", "label_en": "Memory (GB)", "kind": "number", "required": false}]', 1, 1, 0, 0);
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('application', '应用', 'Application', '[{"name": "version", "label_zh": "版本", "label_en": "Version", "kind": "text", "required": false}, {"name": "vendor", "label_zh": "厂商", "label_en": "Vendor", "kind": "text", "required": false}, {"name": "url", "label_zh": "访问地址", "label_en": "URL", "kind": "text", "required": false}]', 1, 1, 0, 0);
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('database', '数据库', 'Database', '[{"name": "engine", "label_zh": "数据库引擎", "label_en": "Engine", "kind": "text", "required": false}, {"name": "version", "label_zh": "版本", "label_en": "Version", "kind": "text", "required": false}, {"name": "port", "label_zh": "端口", "label_en": "Port", "kind": "number", "required": false}]', 1, 1, 0, 0);
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('network_device', '网络设备', 'Network device', '[{"name": "model", "label_zh": "型号", "label_en": "Model", "kind": "text", "required": false}, {"name": "ip", "label_zh": "管理 IP", "label_en": "Management IP", "kind": "ip", "required": false}, {"name": "serial", "label_zh": "序列号", "label_en": "Serial number", "kind": "text", "required": false}, {"name": "ports", "label_zh": "端口数", "label_en": "Ports", "kind": "number", "required": false}]', 1, 1, 0, 0);
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('service', '服务', 'Service', '[{"name": "hours", "label_zh": "服务时间", "label_en": "Service hours", "kind": "text", "required": false}, {"name": "criticality", "label_zh": "重要性", "label_en": "Criticality", "kind": "text", "required": false}]', 1, 1, 0, 0);
INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) VALUES ('location', '位置', 'Location', '[{"name": "address", "label_zh": "地址", "label_en": "Address", "kind": "text", "required": false}, {"name": "city", "label_zh": "城市", "label_en": "City", "kind": "text", "required": false}, {"name": "room", "label_zh": "机房", "label_en": "Room", "kind": "text", "required": false}]', 1, 1, 0, 0);
