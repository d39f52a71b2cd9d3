-- SPDX-License-Identifier: Apache-2.0
-- The identity of this installation: one row, made once, shared by every
-- replica on this database. docker-runtime labels its containers with it,
-- so that installations sharing one Docker engine leave each other's
-- containers alone.
CREATE TABLE instance (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    singleton  boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO instance DEFAULT VALUES;
