/* SPDX-License-Identifier: Apache-2.0 */
'use strict';
// The Fastify peer of bench/api/run.sh: an authenticated
// GET /api/v1/projects served from the same PostgreSQL database as
// vibeboxd, with the same JWT, the same SQL and the same JSON shape.
//
// Environment:
//   PORT         port on 127.0.0.1 (default 18092)
//   PGHOST ...   the database: node-postgres reads libpq's PG* variables
//                (PGHOST is the Unix socket directory)
//   JWT_SECRET   vibeboxd's auth jwt_secret, "k1:<hex>"
//   USER_LOOKUP  "1": check the user in the database as vibeboxd's auth
//                plugin does, reusing a read for USER_CACHE_MS like its
//                user_cache; "0": trust the token's claims
//   USER_CACHE_MS  how long a user read is reused (default 2000, auth's
//                default user_cache; 0 reads it on every request)
//   POOL         connections in the pool (default 8, postgres-store's)

const { Pool, types } = require('pg');
const fastify = require('fastify')({ logger: false });

const PAGE_MAX = 1000000;
const LIMIT_MAX = 100;
const LIMIT_DEFAULT = 20;

// plugins/auth/jwt.c reads "kid:secret" and decodes an all-hex secret of
// even length as hex: the HMAC key is the decoded bytes, not the text.
function jwtKey(text) {
  const m = /^([A-Za-z0-9._-]+):([0-9a-fA-F]+)$/.exec(text || '');
  if (!m || m[2].length % 2) {
    throw new Error('JWT_SECRET must be "kid:<hex>" as in vibeboxd.conf');
  }
  return { kid: m[1], key: Buffer.from(m[2], 'hex') };
}

const secret = jwtKey(process.env.JWT_SECRET);
const userLookup = process.env.USER_LOOKUP === '1';
const userCacheMs = Number(process.env.USER_CACHE_MS || 2000);
const userCache = new Map(); // id -> { until, row }
const USER_CACHE_MAX = 1024; // auth's slots
// The session settings postgres-store's connections use: timestamps come
// as "2026-11-27 15:52:15.565123+00".
const pool = new Pool({
  max: Number(process.env.POOL || 8),
  options: '-c DateStyle=ISO,YMD -c TimeZone=UTC',
});

// A timestamptz as Unix ms, rounded half away from zero like
// plugins/postgres-store/pgtime.c (pg's own parser truncates to the ms).
const TIMESTAMPTZ = 1184;
types.setTypeParser(TIMESTAMPTZ, (text) => {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00$/
    .exec(text);
  if (!m) {
    throw new Error(`unexpected timestamptz text: ${text}`);
  }
  const us = Number((m[7] || '').padEnd(6, '0'));
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) +
    Math.floor((us + 500) / 1000);
});

// The statements of plugins/postgres-store (users.c, projects.c), prepared
// once per connection under a name, as postgres-store does.
const PROJECT_COLS =
  'p.id, p.name, p.slug, p.owner_id, p.team_id, p.created_at, p.updated_at';
const USER_GET =
  'SELECT u.id, u.email, u.name, u.admin, u.disabled, u.created_at, ' +
  'u.updated_at FROM users u WHERE u.id = $1::uuid';
// The page asks for one row more than it shows: when that row is absent
// the page ends the list and gives the total; only otherwise is it
// counted (plugins/postgres-store/pool.c, pgs_run_page).
const PROJECT_LIST_FROM =
  ' FROM projects p WHERE $1::uuid IS NULL OR p.owner_id = $1::uuid' +
  ' OR p.team_id IN (SELECT tm.team_id FROM team_members tm' +
  ' WHERE tm.user_id = $1::uuid)';
const PROJECT_LIST = 'SELECT ' + PROJECT_COLS + PROJECT_LIST_FROM +
  ' ORDER BY p.created_at, p.id LIMIT $2::int8 OFFSET $3::int8';
const PROJECT_COUNT = 'SELECT count(*)' + PROJECT_LIST_FROM;

fastify.register(require('@fastify/jwt'), {
  secret: secret.key,
  verify: { algorithms: ['HS256'] },
});

function fail(reply, status, code, message) {
  return reply.code(status).send({ error: { code, message } });
}

// vibeboxd's principal: who the caller is and whether an instance admin.
async function principal(request) {
  const claims = await request.jwtVerify();
  if (!userLookup) {
    return { id: claims.sub, admin: claims.adm === true };
  }
  const row = await userRow(claims.sub);
  if (!row || row[4]) {
    return null; // deleted or disabled since the token was issued
  }
  return { id: row[0], admin: row[3] };
}

// The user's row, from the cache while fresh, like auth's usercache.c.
async function userRow(id) {
  const now = Date.now();
  const hit = userCache.get(id);
  if (hit && hit.until > now) {
    return hit.row;
  }
  const r = await pool.query({
    name: 'user_get', text: USER_GET, values: [id], rowMode: 'array',
  });
  const row = r.rows.length ? r.rows[0] : null;
  if (row && userCacheMs > 0) {
    if (userCache.size >= USER_CACHE_MAX) {
      userCache.clear();
    }
    userCache.set(id, { until: now + userCacheMs, row });
  }
  return row;
}

fastify.addHook('onRequest', async (request, reply) => {
  if (!request.url.startsWith('/api/')) {
    return undefined;
  }
  let who;
  try {
    who = await principal(request);
  } catch (err) {
    who = null;
  }
  if (!who) {
    return fail(reply, 401, 'UNAUTHORIZED', 'a valid access token is needed');
  }
  request.who = who;
  return undefined;
});

// A decimal number of digits only in [1, max]; 0 when it is not one, as
// plugins/platform/common.c parses page and limit.
function count(s, dflt, max) {
  if (s === undefined) {
    return dflt;
  }
  if (!/^[0-9]{1,7}$/.test(s)) {
    return 0;
  }
  const v = Number(s);
  return v <= max ? v : 0;
}

const iso = (ms) => new Date(ms).toISOString();

function project(row) {
  return {
    id: row[0],
    name: row[1],
    slug: row[2],
    teamId: row[4],
    ownerId: row[3],
    createdAt: iso(row[5]),
    updatedAt: iso(row[6]),
  };
}

const projectSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    slug: { type: 'string' },
    teamId: { type: ['string', 'null'] },
    ownerId: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
};
// A response schema lets Fastify serialize with fast-json-stringify, its
// fastest path: the peer is measured at its best.
const listSchema = {
  response: {
    200: {
      type: 'object',
      properties: {
        data: { type: 'array', items: projectSchema },
        pagination: {
          type: 'object',
          properties: {
            page: { type: 'integer' },
            limit: { type: 'integer' },
            total: { type: 'integer' },
          },
        },
      },
    },
  },
};

fastify.get('/api/v1/projects', { schema: listSchema }, async (request,
  reply) => {
  const page = count(request.query.page, 1, PAGE_MAX);
  const limit = count(request.query.limit, LIMIT_DEFAULT, LIMIT_MAX);
  if (!page || !limit) {
    return fail(reply, 400, 'VALIDATION_ERROR', 'bad page or limit');
  }
  const who = request.who.admin ? null : request.who.id;
  const offset = (page - 1) * limit;
  const r = await pool.query({
    name: 'project_list',
    text: PROJECT_LIST,
    values: [who, String(limit + 1), String(offset)],
    rowMode: 'array',
  });
  const more = r.rows.length > limit;
  const rows = more ? r.rows.slice(0, limit) : r.rows;
  let total = offset + rows.length;
  if (more || (rows.length === 0 && offset > 0)) {
    const c = await pool.query({
      name: 'project_list_count', text: PROJECT_COUNT, values: [who],
      rowMode: 'array',
    });
    total = Math.max(Number(c.rows[0][0]), more ? offset + limit + 1 : 0);
  }
  const data = rows.map(project);
  return { data, pagination: { page, limit, total } };
});

fastify.get('/health/live', async () => ({ status: 'ok' }));

const port = Number(process.env.PORT || 18092);
fastify.listen({ host: '127.0.0.1', port }, (err) => {
  if (err) {
    console.error(`fastify: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () =>
    fastify.close().then(() => pool.end()).then(() => process.exit(0)));
}
