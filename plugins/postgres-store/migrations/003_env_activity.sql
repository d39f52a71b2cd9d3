-- SPDX-License-Identifier: Apache-2.0
-- 003: environments remember their last terminal or API activity
-- (store_env_touch; NULL: never), and the lists that the runtime runs
-- often find their rows by index.
ALTER TABLE environments ADD COLUMN active_at timestamptz;

-- The reconcile pass lists the environments in some statuses (starting,
-- stopping, running) across every project.
CREATE INDEX environments_status_idx ON environments (status);

-- Quotas count the environments a user made; deleting a user sets them
-- to NULL (ON DELETE SET NULL), which also looks them up by this column.
-- Lookups by project use environments_project_slug_key (project_id first).
CREATE INDEX environments_created_by_idx ON environments (created_by);
