-- Problem management: problems (PRB-000001), their root cause analysis and the known error
-- database. Incidents link to problems through `links` (incident caused_by problem), the fix
-- through a resolved_by link to a change. Times are microseconds since the Unix epoch, UTC.
INSERT INTO counters (name, value) VALUES ('PRB', 0);
CREATE TABLE problems (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    -- new, under_investigation, known_error, resolved, closed (core::problem)
    status TEXT NOT NULL,
    -- P1..P5 as 1..5, and the impact (high, medium, low)
    priority BIGINT NOT NULL,
    impact TEXT NOT NULL,
    team_id BIGINT REFERENCES teams(id),
    -- The problem owner.
    assignee_id BIGINT REFERENCES users(id),
    category TEXT,
    service_id BIGINT REFERENCES services(id),
    -- Root cause analysis.
    cause TEXT NOT NULL,
    method_notes TEXT NOT NULL,
    contributing_factors TEXT NOT NULL,
    workaround TEXT NOT NULL,
    -- When it became a known error, and whether the known error is published to the KEDB.
    known_error_at BIGINT,
    kedb_published BIGINT NOT NULL DEFAULT 0,
    resolution TEXT NOT NULL,
    resolved_at BIGINT,
    closed_at BIGINT,
    created_by BIGINT NOT NULL REFERENCES users(id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX problems_status ON problems(status, id);
CREATE INDEX problems_kedb ON problems(kedb_published, id);
-- The known error database's search text: title, cause and workaround, segmented
-- (store::search); rowid = problems.id.
CREATE VIRTUAL TABLE problem_search USING fts5(doc, tokenize = 'unicode61');
-- The trend view counts incidents by category and service over a period.
CREATE INDEX tickets_kind_created ON tickets(kind, created_at);
-- A known error applied to an incident: its workaround posted as a reply, once per incident.
CREATE TABLE problem_applications (
    problem_id BIGINT NOT NULL REFERENCES problems(id),
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    comment_id BIGINT NOT NULL REFERENCES comments(id),
    applied_by BIGINT NOT NULL REFERENCES users(id),
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (problem_id, ticket_id)
);
