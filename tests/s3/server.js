// SPDX-License-Identifier: Apache-2.0
// An S3-compatible server for the backup-s3 tests that checks every
// request's SigV4 signature (credentials S3RVER / S3RVER).
//   node server.js PORT DIRECTORY BUCKET
// Prints "ready PORT" on stdout once it listens on 127.0.0.1.
'use strict';
const S3rver = require('@20minutes/s3rver');

const [port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: !process.env.S3RVER_LOG,
  allowMismatchedSignatures: false,
  vhostBuckets: false,
  configureBuckets: [{ name: bucket }],
});
server.run().then(
  (addr) => console.log(`ready ${addr.port}`),
  (err) => {
    console.error(`s3rver: ${err.message}`);
    process.exit(1);
  },
);
