// A Kiln client in another language, written only from protos/kiln/v1/*.proto with the
// stock Node.js gRPC libraries (@grpc/grpc-js, @grpc/proto-loader): it submits a
// mesh.extract job, watches it to completion, downloads its output, and checks that the
// output is a well-formed PLY whose vertex and face counts are the job's result summary.
//
//   node kiln_client_test.js --addr 127.0.0.1:7070 --protos protos [--out DIR]
//
// Exits 0 when every check holds; otherwise prints what failed and exits 1. Run by
// tests/node/node_client_test.cc against a real scheduler and worker.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

// Required, not optional: a missing node_modules must fail the test (run `npm ci`).
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const args = {addr: process.env.KILN_ADDR || '', protos: '', out: ''};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--addr') args.addr = value;
    else if (flag === '--protos') args.protos = value;
    else if (flag === '--out') args.out = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!args.addr || !args.protos) throw new Error('--addr and --protos are required');
  return args;
}

// google.protobuf.Struct from a plain JS object (proto-loader passes Struct as a message).
function toValue(v) {
  if (v === null) return {nullValue: 'NULL_VALUE'};
  if (typeof v === 'number') return {numberValue: v};
  if (typeof v === 'string') return {stringValue: v};
  if (typeof v === 'boolean') return {boolValue: v};
  if (Array.isArray(v)) return {listValue: {values: v.map(toValue)}};
  return {structValue: toStruct(v)};
}
function toStruct(obj) {
  const fields = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = toValue(v);
  return {fields};
}

function loadJobService(protosDir) {
  const definition = protoLoader.loadSync('kiln/v1/job_service.proto', {
    includeDirs: [protosDir],
    keepCase: true,     // Field names exactly as in the .proto files.
    longs: String,      // int64 as decimal strings.
    enums: String,      // Enums by name, e.g. JOB_STATE_SUCCEEDED.
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).kiln.v1.JobService;
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30000);
    client[method](request, {deadline}, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

// Follows WatchJob until the job is terminal; returns every job message received.
function watch(client, jobId, timeoutMs) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const call = client.WatchJob({job_id: jobId}, {deadline: new Date(Date.now() + timeoutMs)});
    let done = false;
    call.on('data', (response) => {
      seen.push(response.job);
      console.error(`watch: ${response.job.state} revision ${response.job.revision}`);
      if (TERMINAL.has(response.job.state) && !done) {
        done = true;
        call.cancel();
        resolve(seen);
      }
    });
    call.on('error', (err) => {
      if (!done) reject(new Error(`WatchJob: ${err.code} ${err.details || err.message}`));
    });
    call.on('end', () => {
      if (!done) reject(new Error('WatchJob ended before the job finished'));
    });
  });
}

// GetBlob: the whole blob, its announced size checked.
function download(client, sha256) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = -1;
    const call = client.GetBlob({sha256}, {deadline: new Date(Date.now() + 60000)});
    call.on('data', (chunk) => {
      if (size < 0) size = Number(chunk.size_bytes);
      chunks.push(chunk.data);
    });
    call.on('error', (err) => reject(new Error(`GetBlob: ${err.code} ${err.details}`)));
    call.on('end', () => {
      const data = Buffer.concat(chunks);
      if (data.length !== Math.max(size, 0)) {
        reject(new Error(`GetBlob: announced ${size} bytes, received ${data.length}`));
      } else {
        resolve(data);
      }
    });
  });
}

const PLY_TYPES = {
  char: 1, uchar: 1, int8: 1, uint8: 1, short: 2, ushort: 2, int16: 2, uint16: 2,
  int: 4, uint: 4, int32: 4, uint32: 4, float: 4, float32: 4, double: 8, float64: 8,
};

function readScalar(buf, offset, type) {
  switch (PLY_TYPES[type] && type) {
    case 'char': case 'int8': return buf.readInt8(offset);
    case 'uchar': case 'uint8': return buf.readUInt8(offset);
    case 'short': case 'int16': return buf.readInt16LE(offset);
    case 'ushort': case 'uint16': return buf.readUInt16LE(offset);
    case 'int': case 'int32': return buf.readInt32LE(offset);
    case 'uint': case 'uint32': return buf.readUInt32LE(offset);
    case 'float': case 'float32': return buf.readFloatLE(offset);
    case 'double': case 'float64': return buf.readDoubleLE(offset);
    default: throw new Error(`PLY: unknown property type ${type}`);
  }
}

// Parses a binary little-endian PLY: element counts, and a walk over every element that
// must end exactly at the end of the file. Returns {vertices, faces, maxIndex}.
function parsePly(buf) {
  const end = buf.indexOf('end_header\n');
  assert.ok(end > 0, 'PLY: no end_header line');
  const lines = buf.subarray(0, end).toString('latin1').split('\n').filter((l) => l.length > 0);
  assert.equal(lines[0], 'ply', 'PLY: the file does not start with "ply"');
  const elements = [];
  for (const line of lines.slice(1)) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'format') {
      assert.equal(words[1], 'binary_little_endian', `PLY: format ${words[1]}`);
    } else if (words[0] === 'element') {
      elements.push({name: words[1], count: Number(words[2]), properties: []});
    } else if (words[0] === 'property') {
      assert.ok(elements.length > 0, 'PLY: property before any element');
      const p = words[1] === 'list' ?
          {list: true, countType: words[2], type: words[3], name: words[4]} :
          {list: false, type: words[1], name: words[2]};
      elements[elements.length - 1].properties.push(p);
    }
  }
  let offset = end + 'end_header\n'.length;
  let maxIndex = -1;
  for (const element of elements) {
    for (let i = 0; i < element.count; ++i) {
      for (const p of element.properties) {
        if (!p.list) {
          offset += PLY_TYPES[p.type];
          continue;
        }
        const n = readScalar(buf, offset, p.countType);
        offset += PLY_TYPES[p.countType];
        for (let k = 0; k < n; ++k) {
          if (element.name === 'face') maxIndex = Math.max(maxIndex, readScalar(buf, offset, p.type));
          offset += PLY_TYPES[p.type];
        }
      }
      assert.ok(offset <= buf.length, `PLY: file ends inside element ${element.name} ${i}`);
    }
  }
  assert.equal(offset, buf.length, 'PLY: bytes left after the last element');
  const count = (name) => (elements.find((e) => e.name === name) || {count: -1}).count;
  return {vertices: count('vertex'), faces: count('face'), maxIndex};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const JobService = loadJobService(args.protos);
  const client = new JobService(args.addr, grpc.credentials.createInsecure());

  // Health checking is on: grpc.health.v1.Health/Check for the whole server (empty
  // service name: an empty request) answers SERVING (field 1 = 1: bytes 08 01).
  const health = await new Promise((resolve, reject) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b) => b, (b) => b, Buffer.alloc(0),
                            {deadline: new Date(Date.now() + 10000)},
                            (err, response) => (err ? reject(err) : resolve(response)));
  });
  assert.deepEqual([...health], [0x08, 0x01], 'health check did not answer SERVING');

  const spec = {
    task: 'mesh.extract',
    parameters: toStruct({shape: {type: 'torus', major_radius: 1.0, minor_radius: 0.35},
                          resolution: 40}),
    labels: {client: 'node'},
    client_request_id: `node-${crypto.randomUUID()}`,
  };
  const submitted = await unary(client, 'SubmitJob', {spec});
  const jobId = submitted.job.id;
  assert.match(jobId, /^j-/, `SubmitJob returned id "${jobId}"`);
  assert.equal(submitted.deduplicated, false);
  console.error(`submitted ${jobId}`);

  // The same request id again: the same job, marked deduplicated.
  const again = await unary(client, 'SubmitJob', {spec});
  assert.equal(again.job.id, jobId);
  assert.equal(again.deduplicated, true);

  const seen = await watch(client, jobId, 120000);
  const revisions = seen.map((j) => Number(j.revision));
  for (let i = 1; i < revisions.length; ++i) {
    // Progress reports do not bump the revision; state changes do.
    assert.ok(revisions[i] >= revisions[i - 1], `revisions going back: ${revisions}`);
  }
  const job = seen[seen.length - 1];
  assert.equal(job.state, 'JOB_STATE_SUCCEEDED', `job ended ${job.state}: ${job.status_message}`);
  const got = (await unary(client, 'GetJob', {job_id: jobId})).job;
  assert.equal(got.state, 'JOB_STATE_SUCCEEDED');
  assert.equal(got.spec.labels.client, 'node');
  assert.equal(got.spec.task, 'mesh.extract');

  assert.equal(job.outputs.length, 1, 'mesh.extract has one output');
  const out = job.outputs[0];
  const data = await download(client, out.sha256);
  assert.equal(data.length, Number(out.size_bytes), 'downloaded size != BlobRef.size_bytes');
  assert.equal(crypto.createHash('sha256').update(data).digest('hex'), out.sha256,
               'downloaded bytes do not hash to the blob address');

  const ply = parsePly(data);
  const summary = job.result.fields;
  assert.equal(ply.vertices, summary.vertices.numberValue, 'PLY vertices != result.vertices');
  assert.equal(ply.faces, summary.faces.numberValue, 'PLY faces != result.faces');
  assert.ok(ply.vertices > 100, `only ${ply.vertices} vertices`);
  assert.ok(ply.maxIndex < ply.vertices, `face index ${ply.maxIndex} out of range`);

  // An unknown job is NOT_FOUND, as the proto comments promise.
  await assert.rejects(unary(client, 'GetJob', {job_id: 'j-7fffffffffffffff'}),
                       (err) => err.code === grpc.status.NOT_FOUND);

  if (args.out) fs.writeFileSync(path.join(args.out, out.name), data);
  console.log(JSON.stringify({job: jobId, output: out.name, bytes: data.length,
                              vertices: ply.vertices, faces: ply.faces}));
  client.close();
}

main().catch((err) => {
  console.error(`node client: FAILED: ${err.stack || err}`);
  process.exit(1);
});
