-- SPDX-License-Identifier: Apache-2.0
-- 001: the data model of VibeBox. Constraints live here, not only in C.
CREATE EXTENSION IF NOT EXISTS pgcrypto; -- gen_random_uuid() before PG 13

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 255),
    name          text NOT NULL DEFAULT '' CHECK (length(name) <= 127),
    password_hash text NOT NULL DEFAULT '',
    admin         boolean NOT NULL DEFAULT false,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE teams (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 127),
    slug       text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_slug_key UNIQUE (slug)
);

CREATE TABLE team_members (
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

-- A project belongs to a user or to a team, never both, never neither.
CREATE TABLE projects (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 127),
    slug       text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    owner_id   uuid REFERENCES users (id) ON DELETE CASCADE,
    team_id    uuid REFERENCES teams (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_owner_xor_team CHECK ((owner_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX projects_owner_slug_key ON projects (owner_id, slug) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX projects_team_slug_key ON projects (team_id, slug) WHERE team_id IS NOT NULL;

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 127),
    prefix       text NOT NULL,
    key_hash     text NOT NULL,
    scopes       integer NOT NULL CHECK (scopes BETWEEN 1 AND 7),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid NOT NULL,
    token_hash text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE audit_log (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    client      text NOT NULL DEFAULT '',
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);

-- Environments, for the runtime milestone.
CREATE TABLE environments (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id     uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 127),
    slug           text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    image          text NOT NULL,
    cpu_limit      numeric(6, 2) NOT NULL CHECK (cpu_limit > 0),
    memory_limit   integer NOT NULL CHECK (memory_limit > 0),
    status         text NOT NULL DEFAULT 'stopped'
                   CHECK (status IN ('stopped', 'starting', 'running', 'stopping', 'error')),
    status_reason  text NOT NULL DEFAULT '',
    container_id   text,
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    status_at      timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    stopped_at     timestamptz,
    CONSTRAINT environments_project_slug_key UNIQUE (project_id, slug)
);

-- A secret value is AES-256-GCM ciphertext under the key named by key_id;
-- a plain value is stored as is. Never both.
CREATE TABLE environment_variables (
    environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    key            text NOT NULL CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
    value          text,
    secret         boolean NOT NULL DEFAULT false,
    ciphertext     bytea,
    key_id         text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, key),
    CONSTRAINT environment_variables_secret_shape CHECK (
        (secret AND value IS NULL AND ciphertext IS NOT NULL AND key_id IS NOT NULL) OR
        (NOT secret AND value IS NOT NULL AND ciphertext IS NULL AND key_id IS NULL))
);

CREATE TABLE environment_ports (
    environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    port           integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    protocol       text NOT NULL DEFAULT 'tcp' CHECK (protocol IN ('tcp', 'udp')),
    host_port      integer CHECK (host_port BETWEEN 1 AND 65535),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, port, protocol)
);
