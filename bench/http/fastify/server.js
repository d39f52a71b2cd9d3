/* SPDX-License-Identifier: Apache-2.0 */
'use strict';
// The Fastify peer of bench/http/run.sh: the same route and body as
// vibeboxd's /health/live, the logger off, listening on loopback only.
// PORT (default 18082) selects the port.

const fastify = require('fastify')({ logger: false });

// A response schema lets Fastify serialize with fast-json-stringify, its
// fastest path: the peer is measured at its best.
const schema = {
  response: {
    200: {
      type: 'object',
      properties: { status: { type: 'string' } },
    },
  },
};

fastify.get('/health/live', { schema }, async () => ({ status: 'ok' }));

const port = Number(process.env.PORT || 18082);
fastify.listen({ host: '127.0.0.1', port }, (err) => {
  if (err) {
    console.error(`fastify: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => fastify.close().then(() => process.exit(0)));
}
