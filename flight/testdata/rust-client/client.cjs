// client.cjs runs one Flight SQL call with the Rust arrow-flight client
// (@lakehouse-rs/flight-sql-client) and prints the answer as JSON.
//
// Usage: node client.cjs HOST PORT COMMAND [SQL]
//   COMMAND is query (needs SQL), catalogs, schemas or tables.
// Environment:
//   FLIGHTSQL_NODE_MODULES  the node_modules directory holding the client
//   FLIGHTSQL_USER          Basic user name (a PocketBase superuser email)
//   FLIGHTSQL_PASSWORD      Basic password
//   FLIGHTSQL_TIMEOUT_MS    deadline for the whole run (default 20000)
//
// Output on success: {"schema": [{name, type, nullable}], "rows": [[...]]}.
// For tables, each table_schema cell is the decoded schema in the same
// {name, type, nullable} form. Errors go to stderr with exit code 1.
//
// The addon panics on a worker thread when the Handshake fails (for
// example a wrong password) and its promise never settles; the deadline
// turns that hang into an error exit.
'use strict';

const { createRequire } = require('node:module');
const path = require('node:path');

// loadModules requires the client and apache-arrow from the install
// directory, so the test data holds no node_modules of its own.
function loadModules() {
  const dir = process.env.FLIGHTSQL_NODE_MODULES;
  if (!dir) {
    throw new Error('FLIGHTSQL_NODE_MODULES is not set: run make test-deps');
  }

  // A file inside node_modules resolves packages from that directory.
  const req = createRequire(path.join(path.resolve(dir), 'client.cjs'));
  return {
    flightsql: req('@lakehouse-rs/flight-sql-client'),
    arrow: req('apache-arrow'),
  };
}

// parseArgs reads the connection and the command from argv and env.
function parseArgs(argv) {
  const [host, portText, command, sql] = argv;
  if (!host || !portText || !command) {
    throw new Error('usage: node client.cjs HOST PORT COMMAND [SQL]');
  }

  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`invalid port ${JSON.stringify(portText)}`);
  }
  if (!['query', 'catalogs', 'schemas', 'tables'].includes(command)) {
    throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
  if (command === 'query' && !sql) {
    throw new Error('query needs an SQL argument');
  }

  return {
    host,
    port,
    command,
    sql,
    username: process.env.FLIGHTSQL_USER,
    password: process.env.FLIGHTSQL_PASSWORD,
  };
}

// run sends the command and returns the Arrow IPC stream bytes.
async function run(client, args) {
  switch (args.command) {
    case 'query':
      return client.query(args.sql);
    case 'catalogs':
      return client.getCatalogs();
    case 'schemas':
      return client.getDbSchemas({});
    case 'tables':
      return client.getTables({ includeSchema: true });
    default:
      throw new Error(`unknown command ${JSON.stringify(args.command)}`);
  }
}

// describeSchema lists the fields with their Arrow type names.
function describeSchema(schema) {
  return schema.fields.map((f) => ({
    name: f.name,
    type: String(f.type),
    nullable: f.nullable,
  }));
}

// jsonValue makes one decoded cell JSON-safe: 64-bit integers become
// decimal strings, binary becomes base64, nested values are walked.
function jsonValue(v) {
  if (v === null || v === undefined) {
    return null;
  }
  if (typeof v === 'bigint') {
    return v.toString();
  }
  if (typeof v === 'number' && !Number.isFinite(v)) {
    return String(v);
  }
  if (v instanceof Uint8Array) {
    return Buffer.from(v).toString('base64');
  }
  if (v instanceof Date) {
    return v.toISOString();
  }
  if (typeof v === 'object' && typeof v.toArray === 'function' && typeof v.get === 'function') {
    return Array.from(v.toArray(), jsonValue);
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    return Array.from(v, jsonValue);
  }
  if (typeof v === 'object') {
    const obj = typeof v.toJSON === 'function' ? v.toJSON() : v;
    const out = {};
    for (const [k, x] of Object.entries(obj)) {
      out[k] = jsonValue(x);
    }
    return out;
  }
  return v;
}

// decodeSchemaBytes parses an IPC-serialized schema (GetTables'
// table_schema column) and fails when the bytes are not one.
function decodeSchemaBytes(arrow, bytes) {
  const reader = arrow.RecordBatchReader.from(bytes);
  reader.open();
  if (!reader.schema) {
    throw new Error('table_schema holds no IPC schema');
  }
  return describeSchema(reader.schema);
}

// decode turns the IPC stream into the printed JSON document.
function decode(arrow, command, buf) {
  const table = arrow.tableFromIPC(buf);
  const names = table.schema.fields.map((f) => f.name);

  const rows = [];
  for (let i = 0; i < table.numRows; i++) {
    rows.push(
      names.map((name, j) => {
        const v = table.getChildAt(j).get(i);
        if (command === 'tables' && name === 'table_schema' && v != null) {
          return decodeSchemaBytes(arrow, v);
        }
        return jsonValue(v);
      }),
    );
  }

  return { schema: describeSchema(table.schema), rows };
}

// startDeadline exits with an error once the run takes too long.
function startDeadline() {
  const ms = Number(process.env.FLIGHTSQL_TIMEOUT_MS || 20000);
  setTimeout(() => {
    process.stderr.write(`flight-sql-client: no answer within ${ms} ms\n`);
    process.exit(1);
  }, ms);
}

async function main() {
  startDeadline();
  const args = parseArgs(process.argv.slice(2));
  const { flightsql, arrow } = loadModules();

  const client = await flightsql.createFlightSqlClient({
    host: args.host,
    port: args.port,
    tls: false,
    headers: [],
    username: args.username,
    password: args.password,
  });

  const buf = await run(client, args);
  process.stdout.write(JSON.stringify(decode(arrow, args.command, buf)) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`flight-sql-client: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
