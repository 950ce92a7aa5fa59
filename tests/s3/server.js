'use strict';
// The S3-compatible server of Lifeboat's tests and benchmarks: s3rver (pinned in package.json)
// plus what Lifeboat relies on and s3rver 3.7.1 does not do, the way AWS S3 does it:
//   - Signature V4 is verified (s3rver accepts any V4 signature): a wrong secret key gets
//     403 SignatureDoesNotMatch, a clock more than 15 minutes off 403 RequestTimeTooSkewed.
//   - Request bodies are read whole and checked against Content-Length and the signed
//     x-amz-content-sha256 before s3rver sees them, so a connection cut mid-upload never
//     leaves a partial object (s3rver streams straight into the object file).
//   - AbortMultipartUpload (DELETE ?uploadId=...), which s3rver answers 405: the upload's parts
//     are removed, NoSuchUpload when there is no such upload.
//   - Conditional writes: `If-None-Match: *` on PutObject and CompleteMultipartUpload answers
//     412 PreconditionFailed when the key exists (serialised per key, so exactly one of
//     several concurrent writers wins).
// For benchmarks, GET /_stats (no valid bucket name) answers the requests served so far as JSON:
// {"requests": N, "byMethod": {"PUT": n, ...}, "bytesIn": N, "bytesOut": N}.
// For fault tests, PUT /_faults?slowdown=N makes the next N requests answer 503 SlowDown.
//   - Object Lock on the buckets named by --object-lock-bucket (s3rver has none): GET
//     ?object-lock answers Enabled; writes with x-amz-object-lock-mode need Content-MD5 (checked)
//     and a future retain-until date; DELETE of a retained object is 403 AccessDenied. Other
//     buckets answer ?object-lock with NotImplemented (s3rver's own answer).
//
// Usage: node --openssl-legacy-provider server.js --directory DIR [--address 127.0.0.1] [--port 0]
//          [--access-key-id ID --secret-access-key KEY] [--bucket NAME]...
// (s3rver's ListObjectsV2 continuation tokens use DES, in OpenSSL 3's legacy provider.)
// Prints "listening ADDRESS:PORT" on stdout once it serves; exits when stdin closes.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Readable } = require('stream');
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');
const S3Error = require('s3rver/lib/models/error');

function parseArgs(argv) {
  const options = {
    address: '127.0.0.1',
    port: 0,
    directory: '',
    accessKeyId: 'lifeboat-test',
    secretAccessKey: 'lifeboat-test-secret',
    buckets: [],
    lockBuckets: new Set(),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) {
      throw new Error(`${argv[i]} needs a value`);
    }
    switch (argv[i]) {
      case '--address': options.address = value; break;
      case '--port': options.port = Number(value); break;
      case '--directory': options.directory = value; break;
      case '--access-key-id': options.accessKeyId = value; break;
      case '--secret-access-key': options.secretAccessKey = value; break;
      case '--bucket': options.buckets.push(value); break;
      case '--object-lock-bucket': options.lockBuckets.add(value); break;
      default: throw new Error(`unknown flag ${argv[i]}`);
    }
  }
  if (!options.directory) {
    throw new Error('--directory is required');
  }
  return options;
}

const kMaxSkewMs = 15 * 60 * 1000;
const kServiceEndpoint = 'amazonaws.com';

function awsEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function canonicalQuery(rawQuery) {
  if (!rawQuery) {
    return '';
  }
  const pairs = rawQuery.split('&').filter(p => p.length > 0).map(p => {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    const decode = s => decodeURIComponent(s.replace(/\+/g, ' '));
    return [awsEncode(decode(key)), awsEncode(decode(value))];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data).digest();
}

function parseAuthorization(header) {
  const match = /^AWS4-HMAC-SHA256 (.*)$/.exec(header || '');
  if (!match) {
    return null;
  }
  const fields = {};
  for (const part of match[1].split(',')) {
    const eq = part.indexOf('=');
    fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) {
    return null;
  }
  const [accessKeyId, date, region, service] = fields.Credential.split('/');
  return { accessKeyId, date, region, service, signedHeaders: fields.SignedHeaders, signature: fields.Signature };
}

function verifySignature(ctx, auth, secret) {
  const rawUrl = ctx.req.url;
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q + 1);
  const names = auth.signedHeaders.split(';');
  const canonicalHeaders = names.map(name => {
    const value = ctx.req.headers[name];
    const text = Array.isArray(value) ? value.join(',') : String(value === undefined ? '' : value);
    return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  // Without the header the payload hash is that of the body, and only bodiless requests get here
  // unbuffered: the hash of the empty string.
  const payloadHash = ctx.req.headers['x-amz-content-sha256'] ||
    crypto.createHash('sha256').update('').digest('hex');
  const canonicalRequest = [ctx.method, path, canonicalQuery(query), canonicalHeaders,
    auth.signedHeaders, payloadHash].join('\n');
  const amzDate = ctx.req.headers['x-amz-date'] || '';
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope,
    crypto.createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, auth.date), auth.region), auth.service), 'aws4_request');
  const expected = hmac(key, stringToSign).toString('hex');
  return expected === auth.signature;
}

function checkSkew(ctx) {
  const amzDate = ctx.req.headers['x-amz-date'] || '';
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!m) {
    throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  const requestTime = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (Math.abs(Date.now() - requestTime) > kMaxSkewMs) {
    throw new S3Error('RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
      { RequestTime: amzDate, ServerTime: new Date().toISOString().replace(/\.\d+/, '') });
  }
}

// Reads the request body whole; null when the client went away before sending all of it.
function readBody(req) {
  return new Promise(resolve => {
    const chunks = [];
    let done = false;
    const finish = value => {
      if (!done) {
        done = true;
        resolve(value);
      }
    };
    req.on('data', chunk => chunks.push(chunk));
    req.on('end', () => finish(Buffer.concat(chunks)));
    req.on('aborted', () => finish(null));
    req.on('error', () => finish(null));
    req.on('close', () => finish(req.complete ? Buffer.concat(chunks) : null));
  });
}

function bucketAndKey(ctx) {
  const host = (ctx.req.headers.host || '').replace(/:\d+$/, '');
  const vhost = new RegExp(`^(.+)\\.s3([-.].+)?\\.${kServiceEndpoint.replace('.', '\\.')}$`).exec(host);
  const path = ctx.path.split('/').slice(1).map(decodeURIComponent);
  if (vhost) {
    return { bucket: vhost[1], key: path.join('/') };
  }
  return { bucket: path[0], key: path.slice(1).join('/') };
}

async function abortMultipartUpload(ctx) {
  const { bucket } = bucketAndKey(ctx);
  const uploadId = String(ctx.query.uploadId);
  if (!/^[A-Za-z0-9_-]+$/.test(uploadId)) {
    throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
  }
  const dir = path.join(ctx.app.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  if (!fs.existsSync(dir)) {
    throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  ctx.status = 204;
}

const keyLocks = new Map();
async function withKeyLock(id, fn) {
  const previous = keyLocks.get(id) || Promise.resolve();
  let release;
  const current = new Promise(resolve => { release = resolve; });
  const chained = previous.then(() => current);
  keyLocks.set(id, chained);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (keyLocks.get(id) === chained) {
      keyLocks.delete(id);
    }
  }
}

const stats = { requests: 0, byMethod: {}, bytesIn: 0, bytesOut: 0 };
let slowdownsLeft = 0;
const retainedUntil = new Map();  // "bucket/key" -> ms since the epoch
const pendingRetention = new Map();  // "bucket/key" -> ms, from CreateMultipartUpload

function objectLockRequest(ctx, lockBuckets, body) {
  const mode = ctx.req.headers['x-amz-object-lock-mode'];
  if (mode === undefined) {
    return null;
  }
  const { bucket } = bucketAndKey(ctx);
  if (!lockBuckets.has(bucket)) {
    throw new S3Error('InvalidRequest', 'Bucket is missing Object Lock Configuration');
  }
  if (mode !== 'COMPLIANCE' && mode !== 'GOVERNANCE') {
    throw new S3Error('InvalidArgument', 'Unknown wormMode directive.');
  }
  const until = Date.parse(ctx.req.headers['x-amz-object-lock-retain-until-date'] || '');
  if (isNaN(until) || until <= Date.now()) {
    throw new S3Error('InvalidArgument', 'The retain until date must be in the future!');
  }
  if (ctx.method === 'PUT') {
    const md5 = ctx.req.headers['content-md5'];
    if (!md5) {
      throw new S3Error('InvalidRequest',
        'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
    }
    if (crypto.createHash('md5').update(body).digest('base64') !== md5) {
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
  }
  return until;
}

function lifeboatMiddleware(secrets, lockBuckets) {
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/_stats') {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(stats);
      return;
    }
    if (ctx.method === 'PUT' && ctx.path === '/_faults') {
      slowdownsLeft = Number(ctx.query.slowdown || 0);
      ctx.status = 204;
      return;
    }
    stats.requests++;
    if (slowdownsLeft > 0) {
      slowdownsLeft--;
      const err = new S3Error('SlowDown', 'Please reduce your request rate.');
      err.status = 503;
      throw err;
    }
    stats.byMethod[ctx.method] = (stats.byMethod[ctx.method] || 0) + 1;
    stats.bytesIn += Number(ctx.req.headers['content-length'] || 0);
    ctx.res.on('finish', () => {
      stats.bytesOut += Number(ctx.res.getHeader('content-length') || 0);
    });
    const auth = parseAuthorization(ctx.req.headers.authorization);
    if (auth && secrets.has(auth.accessKeyId)) {
      checkSkew(ctx);
      if (!verifySignature(ctx, auth, secrets.get(auth.accessKeyId))) {
        throw new S3Error('SignatureDoesNotMatch',
          'The request signature we calculated does not match the signature you provided. ' +
          'Check your key and signing method.', { AWSAccessKeyId: auth.accessKeyId });
      }
    }
    if (ctx.method === 'PUT' || ctx.method === 'POST') {
      const original = ctx.req;
      const body = await readBody(original);
      if (body === null) {
        return;  // the client is gone: nothing is stored
      }
      const declared = original.headers['content-length'];
      if (declared !== undefined && Number(declared) !== body.length) {
        throw new S3Error('IncompleteBody',
          'You did not provide the number of bytes specified by the Content-Length HTTP header');
      }
      const signedHash = original.headers['x-amz-content-sha256'];
      if (auth && signedHash && /^[0-9a-f]{64}$/.test(signedHash) &&
          crypto.createHash('sha256').update(body).digest('hex') !== signedHash) {
        const err = new S3Error('XAmzContentSHA256Mismatch',
          "The provided 'x-amz-content-sha256' header does not match what was computed.");
        err.status = 400;
        throw err;
      }
      ctx.state.lifeboatBody = body;
      const replay = Readable.from(body.length > 0 ? [body] : []);
      replay.headers = original.headers;
      ctx.req = replay;
    }
    if (ctx.method === 'DELETE' && 'uploadId' in ctx.query) {
      return abortMultipartUpload(ctx);
    }
    if (ctx.method === 'GET' && 'object-lock' in ctx.query) {
      const { bucket, key } = bucketAndKey(ctx);
      if (!key && lockBuckets.has(bucket)) {
        ctx.type = 'application/xml';
        ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<ObjectLockConfiguration>' +
          '<ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>';
        return;
      }
    }
    if (ctx.method === 'DELETE' && !('uploadId' in ctx.query)) {
      const { bucket, key } = bucketAndKey(ctx);
      const until = retainedUntil.get(`${bucket}/${key}`);
      if (until !== undefined && until > Date.now()) {
        throw new S3Error('AccessDenied', 'Access Denied because object protected by object lock.');
      }
    }
    const lockUntil = ctx.method === 'PUT' || ('uploads' in ctx.query && ctx.method === 'POST')
      ? objectLockRequest(ctx, lockBuckets, ctx.state.lifeboatBody || Buffer.alloc(0)) : null;
    if (lockUntil !== null || (ctx.method === 'POST' && 'uploadId' in ctx.query)) {
      const { bucket, key } = bucketAndKey(ctx);
      const id = `${bucket}/${key}`;
      const isPart = 'partNumber' in ctx.query;
      const run = async () => {
        await next();
        if (ctx.status !== 200 || isPart) {
          return;
        }
        if ('uploads' in ctx.query) {
          pendingRetention.set(id, lockUntil);
        } else if ('uploadId' in ctx.query) {
          if (pendingRetention.has(id)) {
            retainedUntil.set(id, pendingRetention.get(id));
            pendingRetention.delete(id);
          }
        } else {
          retainedUntil.set(id, lockUntil);
        }
      };
      const conditionalWrite = ctx.req.headers['if-none-match'] === '*' && !isPart &&
        !('uploads' in ctx.query);
      if (!conditionalWrite) {
        return run();
      }
      return withKeyLock(id, async () => {
        const existing = await ctx.app.store.getObject(bucket, key).catch(() => null);
        if (existing) {
          if (existing.content) {
            existing.content.destroy();
          }
          throw new S3Error('PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
            { Condition: 'If-None-Match' });
        }
        await run();
      });
    }
    const conditional = ctx.req.headers ? ctx.req.headers['if-none-match'] : undefined;
    const isObjectWrite = (ctx.method === 'PUT' && !('partNumber' in ctx.query) && !('uploadId' in ctx.query)) ||
      (ctx.method === 'POST' && 'uploadId' in ctx.query);
    if (conditional === '*' && isObjectWrite) {
      const { bucket, key } = bucketAndKey(ctx);
      if (bucket && key) {
        return withKeyLock(`${bucket}/${key}`, async () => {
          const existing = await ctx.app.store.getObject(bucket, key).catch(() => null);
          if (existing) {
            if (existing.content) {
              existing.content.destroy();
            }
            throw new S3Error('PreconditionFailed',
              'At least one of the pre-conditions you specified did not hold',
              { Condition: 'If-None-Match' });
          }
          await next();
        });
      }
    }
    return next();
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(options.accessKeyId, options.secretAccessKey);
  const secrets = new Map([[options.accessKeyId, options.secretAccessKey]]);
  const server = new S3rver({
    address: options.address,
    port: options.port,
    directory: options.directory,
    silent: true,
    serviceEndpoint: kServiceEndpoint,
    configureBuckets: options.buckets.map(name => ({ name })),
  });
  server.middleware.unshift(lifeboatMiddleware(secrets, options.lockBuckets));
  const { address, port } = await server.run();
  process.stdout.write(`listening ${address}:${port}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

main().catch(err => {
  process.stderr.write(`s3 test server: ${err.message}\n`);
  process.exit(2);
});
