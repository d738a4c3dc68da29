#!/usr/bin/env node
// Interop test: a Node.js gRPC client (@grpc/grpc-js) that knows the
// batchexec server only through server reflection, the way grpcurl does. No
// .proto file is read: descriptors come from grpc.reflection.v1alpha, requests
// are written and results read as proto3 JSON.
//
//   node interop_test.js 127.0.0.1:PORT
//
// Prints one line per check, then "N passed, N failed"; exits 1 on a failure.
'use strict';

const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');
const protojson = require('protobufjs/ext/protojson');
const { GrpcReflection } = require('grpc-js-reflection-client');

const SERVICE = 'batchexec.v1.BatchExecutor';
const HEALTH = 'grpc.health.v1.Health';
// No call may hang the test; the longest legitimate one takes well under 5 s.
const CALL_DEADLINE_MS = 10000;

const address = process.argv[2];
if (!address) {
  console.error('usage: node interop_test.js HOST:PORT');
  process.exit(2);
}
const credentials = grpc.credentials.createInsecure();

// --- Descriptors through reflection -----------------------------------------

// Fetches `symbol`'s file and every file it imports through reflection.
// Returns { root: a protobufjs Root of them, files: their names }.
//
// The library's own getPackageObject() is not used: it passes the types on to
// @grpc/proto-loader, whose older protobufjs (7) loses the map in
// google.protobuf.Struct on the way, so any call with `args` fails with
// "Struct.fields: array expected". The protobufjs 8 Root is used directly.
async function reflectRoot(reflection, symbol) {
  const fetched = (await reflection.getDescriptorBySymbol(symbol))
      .getProtobufJsRoot();
  // The C++ reflection service sends FileDescriptorProtos without json_name,
  // so the fetched root names fields as in the .proto (number_value), while
  // protobufjs' ProtoJSON code for google.protobuf.Value assumes the camelCase
  // names (numberValue) and would silently drop Struct values. toDescriptor()
  // fills json_name in; a root rebuilt from it uses camelCase names
  // throughout. Field numbers, hence the wire format, are unchanged.
  const root = protobuf.Root.fromDescriptor(fetched.toDescriptor('proto3'));
  return { root, files: fetched.files };
}

// The standard health-checking types, for when the server lists
// grpc.health.v1.Health but cannot describe it: gRPC C++'s built-in health
// service is not in the descriptor pool reflection reads (grpc/grpc#36665).
// This is the public gRPC contract, not one of ours.
const HEALTH_TYPES_JSON = {
  nested: { grpc: { nested: { health: { nested: { v1: { nested: {
    HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
    HealthCheckResponse: {
      fields: { status: { type: 'ServingStatus', id: 1 } },
      nested: { ServingStatus: { values: {
        UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
    },
    Health: { methods: { Check: {
      requestType: 'HealthCheckRequest',
      responseType: 'HealthCheckResponse' } } },
  } } } } } } },
};

// --- A client driven by descriptors, speaking JSON --------------------------

// Calls the methods of one reflected service with proto3 JSON in and out,
// like `grpcurl -d '{...}' HOST:PORT Service/Method`.
class JsonClient {
  constructor(root, serviceName) {
    this.service = root.lookupService(serviceName);
    this.service.resolveAll();
    this.client = new grpc.Client(address, credentials);
  }

  // The path, serializer and deserializer of `methodName`.
  method(methodName) {
    const method = this.service.methods[methodName];
    assert.ok(method, `${this.service.fullName} has no method ${methodName}`);
    const request = method.resolvedRequestType;
    const response = method.resolvedResponseType;
    return {
      path: `/${this.service.fullName.replace(/^\./, '')}/${methodName}`,
      serialize: (json) =>
        Buffer.from(request.encode(protojson.fromJson(request, json)).finish()),
      deserialize: (bytes) => protojson.toJson(response, response.decode(bytes)),
    };
  }

  unary(methodName, json, deadlineMs = CALL_DEADLINE_MS) {
    const { path, serialize, deserialize } = this.method(methodName);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, serialize, deserialize, json,
          new grpc.Metadata(), { deadline: Date.now() + deadlineMs },
          (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  }

  // Returns the grpc-js call; it emits each response as JSON on 'data'.
  serverStream(methodName, json, deadlineMs = CALL_DEADLINE_MS) {
    const { path, serialize, deserialize } = this.method(methodName);
    return this.client.makeServerStreamRequest(path, serialize, deserialize,
        json, new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
  }

  close() {
    this.client.close();
  }
}

// Collects a server stream: resolves with its events once it ends OK,
// rejects with the call's error (carrying the events seen so far).
function readAll(call) {
  return new Promise((resolve, reject) => {
    const events = [];
    call.on('data', (event) => events.push(event));
    call.on('error', (err) => reject(Object.assign(err, { events })));
    call.on('end', () => resolve(events));
  });
}

// proto3 JSON leaves out fields at their default value: a missing number is 0.
const num = (value) => Number(value ?? 0);

const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `probe` until it returns true or `timeoutMs` passes.
async function eventually(probe, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > end) return false;
    await sleepMs(50);
  }
}

// --- Checks ------------------------------------------------------------------

let passed = 0;
let failed = 0;

async function check(name, body) {
  try {
    await body();
    passed++;
    console.log(`ok   - ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL - ${name}\n       ${String(err.stack || err)
        .split('\n').slice(0, 8).join('\n       ')}`);
  }
}

// The Gather request of the README, exactly as grpcurl would send it.
const GATHER_JSON = {
  tasks: [
    { kind: 'sleep', args: { seconds: 0.2 } },
    { kind: 'echo', args: { x: 1 } },
    { kind: 'fail', args: { code: 5, message: 'nope' } },
  ],
  failurePolicy: 'COLLECT_ALL',
};

async function main() {
  const reflection = new GrpcReflection(address, credentials);
  let root;
  let healthTypes;
  let batch;
  let health;

  await check('reflection lists batchexec.v1.BatchExecutor and Health',
      async () => {
        const services = await reflection.listServices();
        assert.ok(services.includes(SERVICE), `services: ${services}`);
        assert.ok(services.includes(HEALTH), `services: ${services}`);
      });

  await check('reflection describes the service and its imports', async () => {
    const reflected = await reflectRoot(reflection, SERVICE);
    root = reflected.root;
    // The well-known types must come from the server too: a client with no
    // .proto files has nowhere else to get them from.
    for (const file of ['batchexec/v1/batch.proto',
      'google/protobuf/struct.proto', 'google/protobuf/duration.proto']) {
      assert.ok(reflected.files.includes(file),
          `${file} not among ${reflected.files}`);
    }
    for (const type of ['google.protobuf.Struct', 'google.protobuf.Value',
      'google.protobuf.Duration', 'batchexec.v1.ExecuteRequest']) {
      assert.ok(root.lookupType(type), type);
    }
    const methods = root.lookupService(SERVICE).methods;
    assert.deepEqual(Object.keys(methods).sort(),
        ['Execute', 'Gather', 'GetServerStats', 'ListTaskKinds']);
    assert.equal(methods.Execute.responseStream, true);
    assert.equal(methods.Gather.responseStream || false, false);
    batch = new JsonClient(root, SERVICE);
  });
  if (!batch) return;  // Nothing else can run without the descriptors.

  try {
    healthTypes = (await reflectRoot(reflection, HEALTH)).root;
  } catch (err) {
    if (!/not found/i.test(err.message)) throw err;
    console.log(`note - ${HEALTH} is listed but reflection cannot describe ` +
        `it (${err.message}); using the standard health types`);
    healthTypes = protobuf.Root.fromJSON(HEALTH_TYPES_JSON);
  }
  health = new JsonClient(healthTypes, HEALTH);

  await check('Health/Check is SERVING overall and for the service',
      async () => {
        for (const service of ['', SERVICE]) {
          const reply = await health.unary('Check', { service });
          assert.equal(reply.status, 'SERVING', `service "${service}"`);
        }
      });

  await check('ListTaskKinds names each kind with its arguments', async () => {
    const reply = await batch.unary('ListTaskKinds', {});
    const kinds = Object.fromEntries(reply.kinds.map((kind) => [kind.name,
      Object.fromEntries((kind.args || []).map((arg) =>
        [arg.name, { type: arg.type, required: arg.required || false }]))]));
    assert.deepEqual(reply.kinds.map((kind) => kind.name),
        ['dns', 'echo', 'fail', 'grpc_health', 'http', 'primes', 'sleep', 'tcp_probe']);  // sorted by name
    for (const kind of reply.kinds) assert.ok(kind.description, kind.name);
    assert.deepEqual(kinds.echo, {});
    assert.deepEqual(kinds.sleep,
        { seconds: { type: 'number', required: true } });
    assert.deepEqual(kinds.fail, {
      code: { type: 'number', required: false },
      message: { type: 'string', required: false },
      times: { type: 'number', required: false },
    });
    assert.deepEqual(kinds.primes, { n: { type: 'number', required: true } });
    assert.deepEqual(kinds.tcp_probe.host,
        { type: 'string', required: true });
    assert.deepEqual(kinds.tcp_probe.port,
        { type: 'number', required: true });
    assert.equal(kinds.tcp_probe.timeout?.type, 'number');
    assert.deepEqual(kinds.http.url, { type: 'string', required: true });
    assert.equal(kinds.http.headers?.type, 'object');
    assert.equal(kinds.http.expect_status?.type, 'list');
    assert.deepEqual(kinds.dns.name, { type: 'string', required: true });
    assert.deepEqual(kinds.grpc_health.target,
        { type: 'string', required: true });
  });

  await check('Gather returns every result in order with its own status',
      async () => {
        const reply = await batch.unary('Gather', GATHER_JSON);
        const { results, summary } = reply;
        assert.equal(results.length, 3);
        results.forEach((result, i) => assert.equal(num(result.index), i));
        assert.deepEqual(results.map((r) => num(r.status?.code)), [0, 0, 5]);
        assert.equal(results[0].output, 0.2);  // sleep: the seconds slept
        assert.deepEqual(results[1].output, { x: 1 });  // echo: output = args
        assert.equal(results[2].status.message, 'nope');
        assert.equal(results[2].output, undefined);  // unset on failure
        // Timing offsets are Durations, so they come back as "0.2xxs".
        assert.match(results[0].finishedAfter, /^\d+(\.\d+)?s$/);
        assert.ok(parseFloat(results[0].finishedAfter) >= 0.2);
        assert.equal(num(summary.succeeded), 2);
        assert.equal(num(summary.progress.total), 3);
        assert.equal(num(summary.progress.completed), 3);
        assert.equal(num(summary.progress.failed), 1);
        // COLLECT_ALL: the outcome is UNKNOWN, naming how many tasks failed.
        assert.equal(num(summary.outcome?.code), 2);
        assert.match(summary.outcome.message, /1/);
      });

  await check('Execute streams accepted first, each index once, summary last',
      async () => {
        const count = 40;
        const tasks = Array.from({ length: count }, (_, i) => (i % 3 === 0 ?
            { kind: 'sleep', args: { seconds: 0.01 * (i % 7) }, id: `t${i}` } :
            { kind: 'echo', args: { i }, id: `t${i}` }));
        tasks[5] = { kind: 'fail', args: { code: 9 }, id: 't5' };
        const events = await readAll(batch.serverStream('Execute',
            { tasks, failurePolicy: 'COLLECT_ALL', maxConcurrency: 8 }));

        assert.ok(events[0].accepted, JSON.stringify(events[0]));
        assert.equal(num(events[0].accepted.taskCount), count);
        assert.ok(events.at(-1).summary, JSON.stringify(events.at(-1)));
        const middle = events.slice(1, -1);
        assert.ok(middle.every((e) => e.results || e.progress),
            'only results/progress between accepted and summary');

        const seen = new Array(count).fill(0);
        for (const event of middle) {
          for (const result of event.results?.results || []) {
            const index = num(result.index);
            seen[index]++;
            assert.equal(result.id, `t${index}`);  // ids are echoed back
            assert.equal(num(result.status?.code), index === 5 ? 9 : 0);
          }
        }
        assert.deepEqual(seen, new Array(count).fill(1));

        const { summary } = events.at(-1);
        assert.equal(num(summary.progress.completed), count);
        assert.equal(num(summary.progress.failed), 1);
        assert.equal(num(summary.succeeded), count - 1);
      });

  await check('a cancelled Execute frees its tasks; the server stays healthy',
      async () => {
        const tasks = Array.from({ length: 50 },
            () => ({ kind: 'sleep', args: { seconds: 30 } }));
        const call = batch.serverStream('Execute', { tasks }, 60000);
        const ended = readAll(call).then(() => null, (err) => err);
        // Cancel only once the tasks really run, so there is something to
        // stop.
        const running = await eventually(async () => num((await batch.unary(
            'GetServerStats', {})).inflightTasks) === 50, 3000);
        assert.ok(running, 'the 50 sleeps never all ran');
        call.cancel();
        const err = await ended;
        assert.equal(err?.code, grpc.status.CANCELLED, String(err));

        let stats;
        const drained = await eventually(async () => {
          stats = await batch.unary('GetServerStats', {});
          return num(stats.inflightTasks) === 0 && num(stats.openBatches) === 0;
        }, 2000);
        assert.ok(drained, `not drained: ${JSON.stringify(stats)}`);
        const reply = await health.unary('Check', { service: SERVICE });
        assert.equal(reply.status, 'SERVING');
        // And it still runs work.
        const after = await batch.unary('Gather',
            { tasks: [{ kind: 'echo', args: { ok: true } }] });
        assert.deepEqual(after.results[0].output, { ok: true });
      });

  await check('an unknown kind is INVALID_ARGUMENT naming the task index',
      async () => {
        const request = { tasks: [{ kind: 'echo' }, { kind: 'no_such_kind' }] };
        const err = await batch.unary('Gather', request).then(
            () => assert.fail('Gather accepted an unknown kind'), (e) => e);
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, String(err));
        assert.match(err.details, /tasks\[1\]/);
        assert.match(err.details, /no_such_kind/);

        // Execute rejects the whole batch before any event.
        const streamErr = await readAll(batch.serverStream('Execute', request))
            .then(() => assert.fail('Execute accepted an unknown kind'),
                (e) => e);
        assert.equal(streamErr.code, grpc.status.INVALID_ARGUMENT);
        assert.match(streamErr.details, /tasks\[1\]/);
        assert.deepEqual(streamErr.events, []);
      });

  batch.close();
  health.close();
}

main()
    .catch((err) => {
      failed++;
      console.log(`FAIL - unexpected error: ${err.stack || err}`);
    })
    .finally(() => {
      console.log(`${passed} passed, ${failed} failed`);
      // Exit explicitly: the reflection client keeps a channel open.
      process.exit(failed === 0 && passed > 0 ? 0 : 1);
    });
