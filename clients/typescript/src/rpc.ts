/**
 * Request/reply over one confirm channel: any number of concurrent requests, each matched to
 * its reply by a fresh correlation id, replies through direct reply-to.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Message, Options } from 'amqplib';
import { NoReply, Unavailable } from './errors.js';
import { DIRECT_REPLY_TO } from './wire.js';

interface Pending {
  settle(error: Error | null, reply?: ConsumeMessage): void;
}

export interface Request {
  exchange: string;
  routingKey: string;
  body: Buffer;
  /** Message properties; the correlation id, reply-to and mandatory flag are set here. */
  properties: Options.Publish;
  /** Named in a `NoReply`, so the caller knows which id to retry with. */
  messageId: string;
  timeoutMs: number;
}

export class Requester {
  private readonly pending = new Map<string, Pending>();
  private draining: Promise<void> | undefined;
  /** Why the channel closed; a closed requester is replaced by a new one. */
  closed: Error | undefined;

  private constructor(private readonly channel: ConfirmChannel) {
    // A channel error (e.g. a refused user_id) closes the channel: every request on it fails.
    channel.on('error', (error: Error) => this.fail(new Unavailable(error.message, { cause: error })));
    channel.on('close', () => this.fail(new Unavailable('the channel to RabbitMQ closed')));
    // mandatory: a message no queue takes comes back instead of vanishing.
    channel.on('return', (message: Message) => {
      const { exchange, routingKey } = message.fields;
      this.pending
        .get(String(message.properties.correlationId))
        ?.settle(new Unavailable(`no queue takes ${routingKey} on ${exchange}: are the services running?`));
    });
  }

  static async open(connection: ChannelModel): Promise<Requester> {
    const requester = new Requester(await connection.createConfirmChannel());
    // Direct reply-to: the pseudo-queue is consumed (no-ack) before any request goes out.
    await requester.channel.consume(DIRECT_REPLY_TO, (reply) => requester.onReply(reply), { noAck: true });
    return requester;
  }

  /** Publishes with publisher confirms and resolves with the reply. */
  async request(request: Request): Promise<ConsumeMessage> {
    await this.draining;
    if (this.closed) throw this.closed;
    const correlationId = randomUUID();
    return new Promise<ConsumeMessage>((resolve, reject) => {
      const timer = setTimeout(
        () => settle(new NoReply(request.routingKey, request.messageId, request.timeoutMs)),
        request.timeoutMs,
      );
      const settle = (error: Error | null, reply?: ConsumeMessage): void => {
        clearTimeout(timer);
        this.pending.delete(correlationId);
        if (error) reject(error);
        else resolve(reply as ConsumeMessage);
      };
      this.pending.set(correlationId, { settle });
      const properties = { ...request.properties, correlationId, replyTo: DIRECT_REPLY_TO, mandatory: true };
      let flowing: boolean;
      try {
        flowing = this.channel.publish(request.exchange, request.routingKey, request.body, properties, (err) => {
          // A nack (or a channel lost before the confirm): the broker does not have the message.
          if (err) this.pending.get(correlationId)?.settle(new Unavailable(`the broker did not take ${request.routingKey}`));
        });
      } catch (error) {
        // The channel closed meanwhile, or the message cannot be encoded (headers over 64 KiB).
        return settle(new Unavailable(`cannot publish ${request.routingKey}: ${String(error)}`, { cause: error }));
      }
      if (!flowing) this.waitForDrain();
    });
  }

  /** The socket's buffer is full: later requests wait until it drains, or until the channel
   * closes (they then fail with `closed`). */
  private waitForDrain(): void {
    this.draining ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.channel.off('drain', done).off('close', done);
        this.draining = undefined;
        resolve();
      };
      this.channel.on('drain', done).on('close', done);
    });
  }

  async close(): Promise<void> {
    this.fail(new Unavailable('the client is closed'));
    await this.channel.close().catch(() => undefined); // already closed: nothing to tidy
  }

  private onReply(reply: ConsumeMessage | null): void {
    if (reply === null) return this.fail(new Unavailable('the broker cancelled the reply consumer'));
    // A reply nobody waits for any more (timed out) is dropped.
    this.pending.get(String(reply.properties.correlationId))?.settle(null, reply);
  }

  private fail(error: Error): void {
    this.closed ??= error;
    for (const pending of [...this.pending.values()]) pending.settle(error);
  }
}
