-- SPDX-License-Identifier: Apache-2.0
-- 002: revoking every session of a user (store_refresh_revoke_user, on a
-- password change) finds that user's refresh tokens by index.
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
