-- The authorization server's schema, version 1 (never edited: a change is a new version).
CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   BLOB,
    metadata      TEXT NOT NULL,
    cache_until   INTEGER,
    kind          TEXT NOT NULL CHECK (kind IN ('configured', 'registered', 'document')),
    source        TEXT,
    registered_at INTEGER,
    unused_until  INTEGER,
    granted       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE codes (
    digest       BLOB PRIMARY KEY,
    client_id    TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    challenge    TEXT NOT NULL,
    resource     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    family       TEXT NOT NULL,
    spent        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX codes_expiry ON codes (expires_at);
CREATE TABLE refresh_tokens (
    digest     BLOB PRIMARY KEY,
    family     TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    resource   TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_family ON refresh_tokens (family);
CREATE INDEX refresh_expiry ON refresh_tokens (expires_at);
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX access_family ON access_tokens (family);
CREATE INDEX access_expiry ON access_tokens (expires_at);
CREATE TABLE revoked_families (
    family TEXT PRIMARY KEY,
    until  INTEGER NOT NULL
);
