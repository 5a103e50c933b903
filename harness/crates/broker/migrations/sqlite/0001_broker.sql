-- The broker's schema on SQLite (the same tables as migrations/postgres/0001_broker.sql;
-- only the integer columns differ). Booleans are 0 or 1. Times are RFC 3339 text in UTC; ids give the order of
-- creation ("latest" means the highest id).
CREATE TABLE pacticipants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT,
    main_branch TEXT,
    repository_url TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pacticipant_id INTEGER NOT NULL REFERENCES pacticipants(id),
    number TEXT NOT NULL,
    build_url TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (pacticipant_id, number)
);
CREATE TABLE branches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pacticipant_id INTEGER NOT NULL REFERENCES pacticipants(id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (pacticipant_id, name)
);
CREATE TABLE branch_versions (
    branch_id INTEGER NOT NULL REFERENCES branches(id),
    version_id INTEGER NOT NULL REFERENCES versions(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (branch_id, version_id)
);
CREATE TABLE tags (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (version_id, name)
);
CREATE TABLE pact_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha TEXT NOT NULL UNIQUE,
    consumer_id INTEGER NOT NULL REFERENCES pacticipants(id),
    provider_id INTEGER NOT NULL REFERENCES pacticipants(id),
    content TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE pact_publications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer_version_id INTEGER NOT NULL REFERENCES versions(id),
    provider_id INTEGER NOT NULL REFERENCES pacticipants(id),
    pact_version_id INTEGER NOT NULL REFERENCES pact_versions(id),
    revision INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    UNIQUE (consumer_version_id, provider_id)
);
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pact_version_id INTEGER NOT NULL REFERENCES pact_versions(id),
    provider_version_id INTEGER NOT NULL REFERENCES versions(id),
    success INTEGER NOT NULL,
    build_url TEXT,
    test_results TEXT,
    verified_by TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX verifications_pact_version ON verifications (pact_version_id);
CREATE TABLE environments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT,
    production INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE deployed_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    version_id INTEGER NOT NULL REFERENCES versions(id),
    pacticipant_id INTEGER NOT NULL REFERENCES pacticipants(id),
    environment_id INTEGER NOT NULL REFERENCES environments(id),
    application_instance TEXT NOT NULL DEFAULT '',
    target TEXT,
    created_at TEXT NOT NULL,
    undeployed_at TEXT
);
CREATE INDEX deployed_versions_current ON deployed_versions (environment_id, pacticipant_id);
