-- Service catalogue, approvals, business calendars, SLAs and their clocks, escalations,
-- in-app notifications, the job queue and major incidents.

-- Business calendars. `definition` is core's CalendarSpec as JSON; the built-in rows leave it
-- NULL and take their definition from the binary, so new holiday years arrive with an upgrade.
CREATE TABLE calendars (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    builtin TEXT UNIQUE,
    definition TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO calendars (id, name, builtin, definition, version, created_at, updated_at)
VALUES (1, 'China mainland standard', 'china_mainland', NULL, 1, 0, 0),
       (2, '24x7', 'always', NULL, 1, 0, 0);

-- The service catalogue.
CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL,
    description_en TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    team_id BIGINT REFERENCES teams(id),
    lifecycle TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE service_customers (
    service_id BIGINT NOT NULL REFERENCES services(id),
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    PRIMARY KEY (service_id, organization_id)
);
CREATE INDEX service_customers_org ON service_customers(organization_id);
CREATE TABLE service_relations (
    service_id BIGINT NOT NULL REFERENCES services(id),
    related_id BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (service_id, related_id)
);
-- Catalogue items. `form` is the list of field definitions as JSON; `approval_rule` is none,
-- team_lead, any or all (the last two over request_type_approvers).
CREATE TABLE request_types (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL,
    description_en TEXT NOT NULL,
    form TEXT NOT NULL,
    approval_rule TEXT NOT NULL,
    active BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX request_types_service ON request_types(service_id);
CREATE TABLE request_type_approvers (
    request_type_id BIGINT NOT NULL REFERENCES request_types(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (request_type_id, user_id)
);

ALTER TABLE tickets ADD COLUMN service_id BIGINT REFERENCES services(id);
ALTER TABLE tickets ADD COLUMN request_type_id BIGINT REFERENCES request_types(id);
-- The requester's answers to the request type's form, as JSON.
ALTER TABLE tickets ADD COLUMN form_answers TEXT;
-- NULL when no approval is needed; else pending, approved or rejected.
ALTER TABLE tickets ADD COLUMN approval_status TEXT;
-- The earliest due time of the ticket's running SLA clocks: queues sort and filter on it.
ALTER TABLE tickets ADD COLUMN sla_due_at BIGINT;
-- A child incident of a major incident is resolved with its parent.
ALTER TABLE tickets ADD COLUMN parent_id BIGINT REFERENCES tickets(id);
CREATE INDEX tickets_team_due ON tickets(team_id, sla_due_at, id)
    WHERE status IN ('new', 'assigned', 'in_progress', 'pending');
CREATE INDEX tickets_parent ON tickets(parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    approver_id BIGINT NOT NULL REFERENCES users(id),
    -- The request type's rule when the request was made (team_lead, any or all): a later
    -- change of the request type does not change pending approvals.
    rule TEXT NOT NULL,
    decision TEXT,
    comment TEXT,
    decided_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (ticket_id, approver_id)
);
CREATE INDEX approvals_pending ON approvals(approver_id, id) WHERE decision IS NULL;

-- Service level agreements (kind sla, for a customer organisation) and operational level
-- agreements (kind ola, for an internal team). The escalation columns hold core's
-- EscalationActions as JSON.
CREATE TABLE slas (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations(id),
    team_id BIGINT REFERENCES teams(id),
    calendar_id BIGINT NOT NULL REFERENCES calendars(id),
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    review_date TEXT,
    status TEXT NOT NULL,
    warn_per_mille BIGINT NOT NULL,
    warning_actions TEXT NOT NULL,
    breach_actions TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE sla_services (
    sla_id BIGINT NOT NULL REFERENCES slas(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (sla_id, service_id)
);
-- Business seconds per priority (1 = P1).
CREATE TABLE sla_targets (
    sla_id BIGINT NOT NULL REFERENCES slas(id),
    priority BIGINT NOT NULL,
    response_secs BIGINT NOT NULL,
    resolution_secs BIGINT NOT NULL,
    PRIMARY KEY (sla_id, priority)
);

-- One clock per ticket, agreement and metric (response or resolution). The columns are core's
-- sla::Clock; next_escalation_at is the next warning or breach instant of a running clock, and
-- the escalation sweep reads only rows whose instant has come.
CREATE TABLE sla_clocks (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    sla_id BIGINT NOT NULL REFERENCES slas(id),
    metric TEXT NOT NULL,
    calendar_id BIGINT NOT NULL REFERENCES calendars(id),
    target_secs BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    since BIGINT NOT NULL,
    elapsed_secs BIGINT NOT NULL,
    paused_secs BIGINT NOT NULL,
    breached_at BIGINT,
    due_at BIGINT,
    baseline BIGINT NOT NULL,
    escalation_level BIGINT NOT NULL,
    next_escalation_at BIGINT,
    -- Why a breached target was missed, as the agent or manager recorded it for reports.
    breach_reason TEXT,
    UNIQUE (ticket_id, sla_id, metric)
);
CREATE INDEX sla_clocks_next ON sla_clocks(next_escalation_at) WHERE next_escalation_at IS NOT NULL;
-- Each warning and breach of a clock's baseline happens once: the key refuses a second.
CREATE TABLE sla_escalations (
    id INTEGER PRIMARY KEY,
    clock_id BIGINT NOT NULL REFERENCES sla_clocks(id),
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    level TEXT NOT NULL,
    baseline BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actions TEXT NOT NULL,
    node TEXT NOT NULL,
    UNIQUE (clock_id, level, baseline)
);
CREATE INDEX sla_escalations_ticket ON sla_escalations(ticket_id);

-- In-app notifications; kind and params are rendered in the reader's language.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    ticket_id BIGINT REFERENCES tickets(id),
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user ON notifications(user_id, id);
-- The unread count in every page's top bar.
CREATE INDEX notifications_unread ON notifications(user_id) WHERE read_at IS NULL;

-- The job queue: claimed with a lease; a job whose lease expires is claimed again.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    status TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_due ON jobs(run_at, id) WHERE status = 'queued';

-- Major incidents: the incident ticket itself carries the record; these add the declaration,
-- the emergency roster, the communication log and the post-incident review.
CREATE TABLE major_incidents (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets(id),
    declared_by BIGINT NOT NULL REFERENCES users(id),
    declared_at BIGINT NOT NULL,
    response_due_at BIGINT NOT NULL,
    responded_at BIGINT,
    -- Set when the sweep reported that nobody on the roster answered in time.
    response_overdue_at BIGINT,
    review TEXT,
    reviewed_by BIGINT REFERENCES users(id),
    reviewed_at BIGINT
);
CREATE INDEX major_incidents_unanswered ON major_incidents(response_due_at)
    WHERE responded_at IS NULL AND response_overdue_at IS NULL;
CREATE TABLE major_incident_roster (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    paged_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE TABLE major_incident_updates (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    author_id BIGINT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX major_incident_updates_ticket ON major_incident_updates(ticket_id, id);
