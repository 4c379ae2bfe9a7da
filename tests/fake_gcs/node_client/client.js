// Drives the official Node.js client (@google-cloud/storage, pinned in package.json) against an
// endpoint, one operation per run, for tests/fake_gcs/node_client_test.cc. Prints the resulting object
// metadata as one JSON line; any error makes the process exit non-zero with the error on stderr.
//
//   node client.js URL upload BUCKET OBJECT FILE CHUNK_BYTES [RETRY_TEST_ID]
//   node client.js URL download BUCKET OBJECT FILE
//   node client.js URL copy BUCKET OBJECT DEST_BUCKET DEST_OBJECT
//   node client.js URL patch BUCKET OBJECT METADATA_JSON
'use strict';

const {Storage} = require('@google-cloud/storage');

async function main() {
  const [endpoint, op, ...args] = process.argv.slice(2);
  // A custom apiEndpoint makes the client send no credentials at all (useAuthWithCustomEndpoint is off).
  const storage = new Storage({
    apiEndpoint: endpoint,
    projectId: 'test',
    // Retries come quickly, so a test that injects a fault does not wait long.
    retryOptions: {autoRetry: true, maxRetries: 3, retryDelayMultiplier: 1.0, maxRetryDelay: 2, totalTimeout: 60},
  });
  if (op === 'upload') {
    const [bucket, object, file, chunk, retryTestId] = args;
    if (retryTestId) {
      // The Retry Test API names a test per request; the client's interceptors reach resumable uploads too.
      storage.interceptors.push({
        request: reqOpts => {
          reqOpts.headers = {...(reqOpts.headers || {}), 'x-retry-test-id': retryTestId};
          return reqOpts;
        },
      });
    }
    const [uploaded] = await storage.bucket(bucket).upload(file, {
      destination: object,
      resumable: true,
      chunkSize: Number(chunk),
      metadata: {contentType: 'application/x-pflab-test', metadata: {origin: 'node-client'}},
      // A precondition makes the upload idempotent, which the client needs before it retries.
      preconditionOpts: {ifGenerationMatch: 0},
    });
    const [metadata] = await uploaded.getMetadata();
    console.log(JSON.stringify(metadata));
  } else if (op === 'download') {
    const [bucket, object, file] = args;
    // A whole-object download is checked by the client against the object's CRC32C/MD5.
    await storage.bucket(bucket).file(object).download({destination: file});
    const [metadata] = await storage.bucket(bucket).file(object).getMetadata();
    console.log(JSON.stringify(metadata));
  } else if (op === 'copy') {
    const [bucket, object, destBucket, destObject] = args;
    const [copied] = await storage.bucket(bucket).file(object).copy(storage.bucket(destBucket).file(destObject));
    const [metadata] = await copied.getMetadata();
    console.log(JSON.stringify(metadata));
  } else if (op === 'patch') {
    const [bucket, object, patch] = args;
    const file = storage.bucket(bucket).file(object);
    await file.setMetadata(JSON.parse(patch));
    const [metadata] = await file.getMetadata();
    console.log(JSON.stringify(metadata));
  } else {
    throw new Error(`unknown operation '${op}' (upload, download, copy, patch)`);
  }
}

main().catch(err => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
