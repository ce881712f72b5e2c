-- Change enablement (requests for change, CAB votes, standard change templates, freeze
-- periods) and typed links between any two records. Times are microseconds since the Unix
-- epoch, UTC.
INSERT INTO counters (name, value) VALUES ('CHG', 0);
-- Pre-approved standard changes: raising one needs no CAB.
CREATE TABLE change_templates (
    id INTEGER PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description TEXT NOT NULL,
    implementation_plan TEXT NOT NULL,
    test_plan TEXT NOT NULL,
    backout_plan TEXT NOT NULL,
    risk TEXT NOT NULL,
    active BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    -- standard, normal or emergency
    change_type TEXT NOT NULL,
    template_id BIGINT REFERENCES change_templates(id),
    title TEXT NOT NULL,
    reason TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    requester_id BIGINT NOT NULL REFERENCES users(id),
    team_id BIGINT REFERENCES teams(id),
    assignee_id BIGINT REFERENCES users(id),
    -- The risk questionnaire's answers as JSON, and what they score to.
    risk_answers TEXT,
    likelihood BIGINT,
    impact BIGINT,
    risk TEXT,
    implementation_plan TEXT NOT NULL,
    test_plan TEXT NOT NULL,
    backout_plan TEXT NOT NULL,
    planned_start BIGINT,
    planned_end BIGINT,
    actual_start BIGINT,
    actual_end BIGINT,
    -- Approvals a CAB decision needs (the quorum) when the change was submitted.
    cab_quorum BIGINT,
    -- Failed, backed-out and emergency changes need a post-implementation review.
    review_required BIGINT NOT NULL DEFAULT 0,
    review_notes TEXT,
    -- The review's verdict: successful, partially_successful or unsuccessful.
    review_outcome TEXT,
    reviewed_by BIGINT REFERENCES users(id),
    reviewed_at BIGINT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX changes_status ON changes(status, id);
-- The calendar: changes whose window overlaps a month or a week.
CREATE INDEX changes_window ON changes(planned_start, planned_end);
CREATE TABLE change_cis (
    change_id BIGINT NOT NULL REFERENCES changes(id),
    ci_id BIGINT NOT NULL REFERENCES cis(id),
    PRIMARY KEY (change_id, ci_id)
);
CREATE INDEX change_cis_ci ON change_cis(ci_id);
CREATE TABLE change_services (
    change_id BIGINT NOT NULL REFERENCES changes(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (change_id, service_id)
);
CREATE INDEX change_services_service ON change_services(service_id);
-- Each CAB member's decision on a change, with its comment.
CREATE TABLE change_votes (
    id INTEGER PRIMARY KEY,
    change_id BIGINT NOT NULL REFERENCES changes(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    decision TEXT NOT NULL,
    comment TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    UNIQUE (change_id, user_id)
);
-- Blackout windows: no change may be scheduled into one (for one service, or all when NULL).
CREATE TABLE freeze_periods (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    service_id BIGINT REFERENCES services(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users(id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX freeze_periods_window ON freeze_periods(starts_at, ends_at);
-- A typed link between two records, stored once from source to target (core::link).
CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    source_kind TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    link_type TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    UNIQUE (source_kind, source_id, target_kind, target_id, link_type)
);
CREATE INDEX links_target ON links(target_kind, target_id);
