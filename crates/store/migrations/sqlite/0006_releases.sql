-- Releases: they group changes, carry a service acceptance checklist, a go-live decision and
-- a deployment record (core::release). Times are microseconds since the Unix epoch, UTC.
INSERT INTO counters (name, value) VALUES ('REL', 0);
CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    service_id BIGINT NOT NULL REFERENCES services(id),
    version_label TEXT NOT NULL,
    -- major, minor or emergency
    release_type TEXT NOT NULL,
    -- The planned go-live day, YYYY-MM-DD (a calendar day, not an instant).
    planned_date TEXT,
    status TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    created_by BIGINT NOT NULL REFERENCES users(id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX releases_status ON releases(status, id);
CREATE INDEX releases_service ON releases(service_id, id);
-- The changes a release groups; a change belongs to at most one release that is not
-- cancelled (checked by the app, which knows the statuses).
CREATE TABLE release_changes (
    release_id BIGINT NOT NULL REFERENCES releases(id),
    change_id BIGINT NOT NULL REFERENCES changes(id),
    added_by BIGINT NOT NULL REFERENCES users(id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (release_id, change_id)
);
CREATE INDEX release_changes_change ON release_changes(change_id);
-- The service acceptance checklist: pending, passed or failed, each result with who, when
-- and a note.
CREATE TABLE release_checks (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES releases(id),
    ordinal BIGINT NOT NULL,
    text_zh TEXT NOT NULL,
    text_en TEXT NOT NULL,
    mandatory BIGINT NOT NULL,
    result TEXT NOT NULL,
    note TEXT NOT NULL,
    checked_by BIGINT REFERENCES users(id),
    checked_at BIGINT,
    UNIQUE (release_id, ordinal)
);
-- Go-live decisions, each with its comment; a rejection sends the release back to testing.
CREATE TABLE release_approvals (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES releases(id),
    decision TEXT NOT NULL,
    comment TEXT NOT NULL,
    decided_by BIGINT NOT NULL REFERENCES users(id),
    decided_at BIGINT NOT NULL
);
CREATE INDEX release_approvals_release ON release_approvals(release_id, id);
-- Deployment records: success, failed or rolled_back.
CREATE TABLE release_deployments (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES releases(id),
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    notes TEXT NOT NULL,
    deployed_by BIGINT NOT NULL REFERENCES users(id),
    recorded_by BIGINT NOT NULL REFERENCES users(id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX release_deployments_release ON release_deployments(release_id, id);
