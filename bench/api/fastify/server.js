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
//   USER_LOOKUP  "1": read the user from the database on each request, as
//                vibeboxd's auth plugin does; "0": trust the token's claims
//   POOL         connections in the pool (default 8, postgres-store's)

const { Pool } = require('pg');
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
const pool = new Pool({ max: Number(process.env.POOL || 8) });

// The statements of plugins/postgres-store (users.c, projects.c), prepared
// once per connection under a name, as postgres-store does.
const PROJECT_COLS =
  'p.id, p.name, p.slug, p.owner_id, p.team_id, ' +
  '(extract(epoch FROM p.created_at) * 1000)::int8, ' +
  '(extract(epoch FROM p.updated_at) * 1000)::int8';
const USER_GET =
  'SELECT u.id, u.email, u.name, u.admin, u.disabled, ' +
  '(extract(epoch FROM u.created_at) * 1000)::int8, ' +
  '(extract(epoch FROM u.updated_at) * 1000)::int8 ' +
  'FROM users u WHERE u.id = $1::uuid';
const PROJECT_LIST =
  'WITH f AS (SELECT * FROM projects x WHERE $1::uuid IS NULL' +
  '  OR x.owner_id = $1::uuid OR x.team_id IN' +
  '  (SELECT tm.team_id FROM team_members tm' +
  '   WHERE tm.user_id = $1::uuid)),' +
  ' n AS (SELECT count(*) AS n FROM f)' +
  ' SELECT ' + PROJECT_COLS + ', n.n FROM n LEFT JOIN LATERAL' +
  ' (SELECT * FROM f ORDER BY created_at, id' +
  '  LIMIT $2::int8 OFFSET $3::int8) p ON true' +
  ' ORDER BY p.created_at, p.id';

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
  const r = await pool.query({
    name: 'user_get', text: USER_GET, values: [claims.sub], rowMode: 'array',
  });
  if (r.rows.length === 0 || r.rows[0][4]) {
    return null; // deleted or disabled since the token was issued
  }
  return { id: r.rows[0][0], admin: r.rows[0][3] };
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
// core/api/common.c parses page and limit.
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

const iso = (ms) => new Date(Number(ms)).toISOString();

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
  const r = await pool.query({
    name: 'project_list',
    text: PROJECT_LIST,
    values: [who, String(limit), String((page - 1) * limit)],
    rowMode: 'array',
  });
  const total = r.rows.length ? Number(r.rows[0][7]) : 0;
  const data = [];
  for (const row of r.rows) {
    if (row[0] !== null) {
      data.push(project(row)); // null: the page is past the end
    }
  }
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
