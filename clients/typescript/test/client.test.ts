// Runs against the real services: AMQP_URL and INVOICEBUS_PREFIX name a running system
// (tests/integration/test_typescript_client.py starts one and runs this suite).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ErrorReply, InvoicebusClient, Unavailable, type Entity, type InvoicebusEvent } from '../src/index.js';

function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} must name the system under test`);
  return value;
}

const url = env('AMQP_URL');
const prefix = env('INVOICEBUS_PREFIX');
let client: InvoicebusClient;
let entity: Entity;

before(async () => {
  client = await InvoicebusClient.connect({ url, prefix, timeoutMs: 20_000 });
  entity = await client.create('entity', { name: `TS Entity ${randomUUID().slice(0, 6)}`, country_code: 'SI' });
});

after(async () => {
  await client?.close(); // undefined when `before` failed
});

/** Resolves with the first event the predicate accepts. */
function waitForEvent(events: InvoicebusEvent[], accept: (event: InvoicebusEvent) => boolean) {
  let ready!: (event: InvoicebusEvent) => void;
  const found = new Promise<InvoicebusEvent>((resolve) => (ready = resolve));
  const handler = (event: InvoicebusEvent): void => {
    events.push(event);
    if (accept(event)) ready(event);
  };
  return { found, handler };
}

test('an entity and a customer are created, and the subscribed event matches the reply', async () => {
  assert.match(entity.id, /^ent_[0-9a-f]{24}$/);
  const messageId = randomUUID();
  const events: InvoicebusEvent[] = [];
  const { found, handler } = waitForEvent(events, (e) => e.correlationId === messageId);
  const subscription = await client.subscribe(['customer.created'], handler);
  try {
    const customer = await client.create(
      'customer',
      { name: 'Ada Lovelace', email: 'ada@example.com', metadata: { crm: '42' } },
      { entityId: entity.id, messageId },
    );
    assert.equal(customer.entity_id, entity.id);
    assert.deepEqual(customer.metadata, { crm: '42' });
    const event = await found;
    assert.equal(event.type, 'customer.created');
    assert.equal(event.entityId, entity.id);
    assert.match(event.id ?? '', /^evt_[0-9a-f]{24}$/);
    assert.deepEqual(event.body, customer);
    // The same messageId again is the same command: the original customer, no second one.
    const again = await client.create('customer', { name: 'Ada Lovelace', email: 'ada@example.com', metadata: { crm: '42' } }, { entityId: entity.id, messageId });
    assert.equal(again.id, customer.id);
  } finally {
    await subscription.close();
  }
});

test('an item with a 22% tax: price 200 gives total_tax 44', async () => {
  const item = await client.create('item', { name: 'Cortado', price: 200, taxes: [{ rate: 22 }], unit: 'cup' }, { entityId: entity.id });
  assert.equal(item.total_tax, 44);
  assert.equal(item.gross_price, null);
  assert.equal(item.tax_ids.length, 1);
  const taxes = await client.list('tax', { query: { id: item.tax_ids[0] } }, { entityId: entity.id });
  assert.equal(taxes.data[0]?.rate, 22);
});

test('a refused command throws ErrorReply with the status and the field at fault', async () => {
  const refused = client.create('customer', { name: 'Bob', country_code: 'XX' }, { entityId: entity.id });
  await assert.rejects(refused, (error: unknown) => {
    assert.ok(error instanceof ErrorReply);
    assert.equal(error.status, 422);
    assert.equal(error.code, 'validation_error');
    assert.deepEqual(error.errors[0]?.loc, ['country_code']);
    return true;
  });
});

test('concurrent creates, then a list paged through next_cursor and iterateAll', async () => {
  const batch = randomUUID().slice(0, 8);
  const created = await Promise.all(
    [1, 2, 3].map((n) => client.create('customer', { name: `Paged ${n}`, metadata: { batch } }, { entityId: entity.id })),
  );
  const request = { query: { 'metadata.batch': batch }, limit: 2 };
  const first = await client.list('customer', request, { entityId: entity.id });
  assert.equal(first.pagination.total, 3);
  assert.equal(first.data.length, 2);
  assert.equal(first.pagination.has_more, true);
  assert.ok(first.pagination.next_cursor);
  const second = await client.list('customer', { ...request, next_cursor: first.pagination.next_cursor }, { entityId: entity.id });
  assert.equal(second.data.length, 1);
  assert.equal(second.pagination.next_cursor, null);
  const paged = [...first.data, ...second.data].map((c) => c.id);
  assert.deepEqual(paged, created.map((c) => c.id).sort());
  const all = [];
  for await (const customer of client.iterateAll('customer', request, { entityId: entity.id })) all.push(customer.id);
  assert.deepEqual(all, paged);
});

test('a mistyped prefix fails at connect, and a user_id that is not the connection user is refused', async () => {
  await assert.rejects(InvoicebusClient.connect({ url, prefix: `${prefix}-typo` }), Unavailable);
  const spoofing = await InvoicebusClient.connect({ url, prefix, userId: 'mallory' });
  try {
    await assert.rejects(spoofing.create('customer', { name: 'Eve' }, { entityId: entity.id }), /PRECONDITION_FAILED|user_id/);
    // The client opens a new channel for the next request; it is refused the same way.
    await assert.rejects(spoofing.list('customer', {}, { entityId: entity.id }), Unavailable);
  } finally {
    await spoofing.close();
  }
});
