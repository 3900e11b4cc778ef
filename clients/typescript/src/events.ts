/** Subscriptions: an exclusive queue of one's own, bound to the events exchange. */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { InvoicebusError } from './errors.js';
import { Header, type InvoicebusEvent } from './wire.js';

export type EventHandler = (event: InvoicebusEvent) => void | Promise<void>;

export interface SubscribeOptions {
  /** Events the broker sends ahead of the handler; 16 by default. */
  prefetch?: number;
  /**
   * Called when the handler throws (or an event is not JSON). The event is then requeued
   * once and dropped if it fails again: subscribers must not loop on a poison message, and
   * the list queries remain the source of truth. By default the error is printed to stderr.
   */
  onError?: (error: unknown, message: ConsumeMessage) => void;
  /**
   * Subscribe as a tenant: to the tenant events exchange, each binding qualified by each of
   * these entities (`customer.*` becomes `ent_….customer.*`), which is all a tenant's broker
   * user may bind. Without it: the events exchange (trusted subscribers and admins).
   */
  entityIds?: string[];
}

export interface Subscription {
  /** The server-named queue. */
  readonly queue: string;
  /** Settles when the subscription ends: rejects if the channel or connection was lost. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export async function subscribe(
  connection: ChannelModel,
  exchange: string,
  bindings: string[],
  handler: EventHandler,
  { prefetch = 16, onError = (error) => console.error('invoicebus event handler failed:', error) }: SubscribeOptions,
): Promise<Subscription> {
  if (bindings.length === 0) throw new InvoicebusError('subscribe needs at least one binding');
  const channel = await connection.createChannel();
  const closed = whenClosed(channel);
  closed.catch(() => undefined); // reported through `closed`, never as an unhandled rejection
  try {
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    for (const binding of bindings) await channel.bindQueue(queue, exchange, binding);
    await channel.prefetch(prefetch);
    let previous: Promise<void> = Promise.resolve();
    await channel.consume(queue, (message) => {
      if (message === null) return; // cancelled by the broker: `closed` tells
      // One at a time, in arrival order, each acked once its handler is done.
      previous = previous.then(() => deliver(channel, message, handler, onError));
    });
    return {
      queue,
      closed,
      close: async () => {
        await previous;
        await channel.close().catch(() => undefined); // already closed
        await closed.catch(() => undefined);
      },
    };
  } catch (error) {
    await channel.close().catch(() => undefined);
    throw error;
  }
}

async function deliver(
  channel: Channel,
  message: ConsumeMessage,
  handler: EventHandler,
  onError: NonNullable<SubscribeOptions['onError']>,
): Promise<void> {
  try {
    await handler(toEvent(message));
    channel.ack(message);
  } catch (error) {
    try {
      onError(error, message);
    } finally {
      channel.nack(message, false, !message.fields.redelivered);
    }
  }
}

function toEvent(message: ConsumeMessage): InvoicebusEvent {
  const { headers, messageId, correlationId } = message.properties;
  return {
    type: text(headers?.[Header.eventType]) ?? message.fields.routingKey,
    id: text(messageId),
    correlationId: text(correlationId),
    entityId: text(headers?.[Header.entityId]),
    body: JSON.parse(message.content.toString('utf8')),
  } as InvoicebusEvent;
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/** Resolves when the channel closes normally, rejects when the broker or the connection closed it. */
function whenClosed(channel: Channel): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    channel.on('error', (error: Error) => (failure = error));
    channel.on('close', () => (failure ? reject(failure) : resolve()));
  });
}
