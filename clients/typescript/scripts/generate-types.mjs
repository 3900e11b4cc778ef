// Generates src/contract.ts, the client's types, from the contract models' JSON Schemas.
//
// The schemas are read from docs/asyncapi.yaml, which the Python contract models generate
// (pydantic's JSON Schema, with decimals as JSON numbers) and a unit test keeps current. The
// per-resource table (which command, resource, list request, page and rejected event belong
// to which routing key) is read from the same document's operations and channels, so nothing
// here restates the contract. `make typescript-types` rewrites the file; without `--out` the
// result goes to stdout (the Python suite compares it with the committed file).
import { readFile, writeFile } from 'node:fs/promises';
import { compile } from 'json-schema-to-typescript';
import { parse } from 'yaml';

const ASYNCAPI = new URL('../../../docs/asyncapi.yaml', import.meta.url);
const BANNER = `/* Generated from docs/asyncapi.yaml by scripts/generate-types.mjs: do not edit.
 * Run \`make typescript-types\` after \`make asyncapi\` to refresh it. */`;

/** Follows a local `#/...` reference, and the references it lands on. */
function resolve(doc, node) {
  while (node && typeof node.$ref === 'string') {
    node = node.$ref
      .slice(2)
      .split('/')
      .reduce((at, key) => at[key], doc);
  }
  return node;
}

/** The component schema name a message's payload refers to. */
function payloadOf(doc, message) {
  return resolve(doc, message).payload.$ref.split('/').pop();
}

const ERROR_REPLY = '#/components/messages/ErrorReply';

/** An operation's request payload and its one reply payload that is not the error reply. */
function exchangeOf(doc, operation) {
  const [request] = operation.messages;
  const replies = operation.reply.messages.filter((m) => resolve(doc, m) !== resolve(doc, { $ref: ERROR_REPLY }));
  if (replies.length !== 1) throw new Error(`expected one success reply, got ${replies.length}`);
  return { request: payloadOf(doc, request), reply: payloadOf(doc, replies[0]) };
}

/** resource name -> {command, resource, listRequest, page, rejected}, from the operations. */
function resourceTable(doc) {
  const table = {};
  const operations = Object.values(doc.operations);
  const byAddress = (address) => operations.find((op) => resolve(doc, op.channel).address === address);
  for (const op of operations) {
    const address = resolve(doc, op.channel).address;
    if (op.action !== 'receive' || !address?.endsWith('.create')) continue;
    const name = address.slice(0, -'.create'.length);
    const create = exchangeOf(doc, op);
    const list = exchangeOf(doc, byAddress(`${name}.list`));
    const [rejected] = byAddress(`${name}.rejected`).messages;
    table[name] = {
      command: create.request,
      resource: create.reply,
      listRequest: list.request,
      page: list.reply,
      rejected: payloadOf(doc, rejected),
    };
  }
  return table;
}

const ref = (name) => ({ $ref: `#/$defs/${name}` });

/** Drops the titles pydantic puts on every field (json-schema-to-typescript would turn each
 * into a type alias of its own: Name, Name1, ...) and points references at `$defs`. */
function tidy(schema, top = true) {
  if (Array.isArray(schema)) return schema.map((s) => tidy(s, false));
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'title' && !top) continue;
    if (key === '$ref') out.$ref = ref(value.split('/').pop()).$ref;
    else if (key === 'properties')
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tidy(v, false)]));
    else out[key] = typeof value === 'object' ? tidy(value, false) : value;
  }
  return out;
}

function rootSchema(doc) {
  const table = resourceTable(doc);
  const row = (names) => ({
    type: 'object',
    additionalProperties: false,
    required: Object.keys(names),
    properties: Object.fromEntries(Object.entries(names).map(([k, v]) => [k, ref(v)])),
  });
  const errorBody = payloadOf(doc, { $ref: ERROR_REPLY });
  return {
    title: 'Contract',
    description:
      'Per resource (the routing-key prefix): the create command body, the created resource,' +
      ' the list request, the list page and the rejected-event body; and the error body.',
    type: 'object',
    additionalProperties: false,
    required: ['resources', 'errorBody'],
    properties: {
      resources: {
        type: 'object',
        additionalProperties: false,
        required: Object.keys(table),
        properties: Object.fromEntries(Object.entries(table).map(([name, names]) => [name, row(names)])),
      },
      errorBody: ref(errorBody),
    },
    $defs: Object.fromEntries(Object.entries(doc.components.schemas).map(([k, v]) => [k, tidy(v)])),
  };
}

const doc = parse(await readFile(ASYNCAPI, 'utf8'));
const source = await compile(rootSchema(doc), 'Contract', {
  bannerComment: BANNER,
  additionalProperties: false,
  // `maxItems: 10` would become eleven tuple types; the service enforces the limit.
  ignoreMinAndMaxItems: true,
  style: { singleQuote: true, printWidth: 100 },
});
const out = process.argv.indexOf('--out');
if (out === -1) process.stdout.write(source);
else await writeFile(process.argv[out + 1], source);
