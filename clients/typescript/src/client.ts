/**
 * The invoicebus client: typed `create`, `list`, `iterateAll` and `subscribe` over one AMQP
 * connection (amqplib). See docs/wire-contract.md for what travels.
 */
import { randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConsumeMessage, type Options } from 'amqplib';
import { ErrorReply, InvoicebusError, Unavailable } from './errors.js';
import { Requester } from './rpc.js';
import { subscribe, type EventHandler, type Subscription, type SubscribeOptions } from './events.js';
import {
  CONTENT_TYPE,
  DEFAULT_PREFIX,
  exchanges,
  Header,
  type CommandOf,
  type ErrorBody,
  type ListRequestOf,
  type PageOf,
  type ResourceName,
  type ResourceOf,
} from './wire.js';

export interface ClientOptions {
  /** `amqp://user:password@host:5672/vhost` */
  url: string;
  /** Prefix of every exchange name (`INVOICEBUS_PREFIX` of the services); `invoicebus` by default. */
  prefix?: string;
  /** The entity (`x-entity-id`) requests act on unless they name one; the service's default otherwise. */
  entityId?: string;
  /**
   * The AMQP `user_id` property, which RabbitMQ accepts only when it equals the connection's
   * user, so the services can trust it as the caller's identity. By default the user named in
   * `url`; `null` sends none.
   */
  userId?: string | null;
  /** How long to wait for a reply, in milliseconds; 30 000 by default. */
  timeoutMs?: number;
}

export interface RequestOptions {
  /** `x-entity-id` for this request, instead of the client's `entityId`. */
  entityId?: string;
  timeoutMs?: number;
}

export interface CreateOptions extends RequestOptions {
  /** The idempotency key. Send a command again with the same id and no second resource is made. */
  messageId?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;

export class InvoicebusClient {
  private readonly exchanges: ReturnType<typeof exchanges>;
  private readonly userId: string | undefined;
  private requester: Promise<Requester> | undefined;
  private readonly subscriptions = new Set<Subscription>();

  private constructor(
    private readonly connection: ChannelModel,
    private readonly options: ClientOptions,
  ) {
    this.exchanges = exchanges(options.prefix ?? DEFAULT_PREFIX);
    this.userId = options.userId === undefined ? urlUser(options.url) : (options.userId ?? undefined);
    // Without a listener an 'error' event would crash the process; the close that follows
    // fails whatever is waiting.
    connection.on('error', () => undefined);
  }

  /**
   * Connects and checks that the topology of `prefix` exists: a mistyped prefix fails here,
   * instead of commands going where no service listens. The client does not declare the
   * topology (the services own it) and does not reconnect: after `Unavailable`, connect again.
   */
  static async connect(options: ClientOptions): Promise<InvoicebusClient> {
    let connection: ChannelModel;
    try {
      connection = await connect(options.url, { timeout: CONNECT_TIMEOUT_MS });
    } catch (error) {
      throw new Unavailable(`cannot reach RabbitMQ at ${redacted(options.url)}: ${String(error)}`, { cause: error });
    }
    const client = new InvoicebusClient(connection, options);
    try {
      await client.checkExchanges();
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
    return client;
  }

  /** Sends `<resource>.create` and returns the created resource, or throws `ErrorReply`. */
  async create<R extends ResourceName>(
    resource: R,
    body: CommandOf<R>,
    options: CreateOptions = {},
  ): Promise<ResourceOf<R>> {
    const messageId = options.messageId ?? randomUUID();
    return this.call<ResourceOf<R>>(this.exchanges.commands, `${resource}.create`, body, 201, options, {
      messageId,
      persistent: true,
    });
  }

  /** Sends `<resource>.list` and returns one page. */
  async list<R extends ResourceName>(
    resource: R,
    request: ListRequestOf<R> = {},
    options: RequestOptions = {},
  ): Promise<PageOf<R>> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return this.call<PageOf<R>>(this.exchanges.queries, `${resource}.list`, request, 200, options, {
      messageId: randomUUID(),
      persistent: false,
      // A request nobody answered in time is useless later: the broker drops it.
      expiration: String(timeoutMs),
    });
  }

  /** Every resource the request matches, following `next_cursor` one page at a time. */
  async *iterateAll<R extends ResourceName>(
    resource: R,
    request: ListRequestOf<R> = {},
    options: RequestOptions = {},
  ): AsyncGenerator<ResourceOf<R>, void, undefined> {
    // No count (it costs the service a second scan) and no way back.
    let next: ListRequestOf<R> = { ...request, prev_cursor: null, include_total_count: false };
    for (;;) {
      const page = await this.list(resource, next, options);
      yield* page.data as ResourceOf<R>[];
      if (!page.pagination.next_cursor) return;
      next = { ...next, next_cursor: page.pagination.next_cursor };
    }
  }

  /**
   * Binds a queue of its own (exclusive: it goes away with the connection) to the events
   * exchange with each binding (`customer.created`, `customer.*`, `#`) and calls `handler`
   * for each event, one at a time, in arrival order. Events from the moment it resolves on
   * are delivered. With `options.entityIds`, the tenant events of those entities instead.
   */
  async subscribe(bindings: string[], handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const { entityIds } = options;
    const subscription = entityIds
      ? await subscribe(
          this.connection,
          this.exchanges.tenantEvents,
          entityIds.flatMap((entity) => bindings.map((binding) => `${entity}.${binding}`)),
          handler,
          options,
        )
      : await subscribe(this.connection, this.exchanges.events, bindings, handler, options);
    this.subscriptions.add(subscription);
    subscription.closed.finally(() => this.subscriptions.delete(subscription)).catch(() => undefined);
    return subscription;
  }

  /** Fails whatever still waits, ends the subscriptions and closes the connection. */
  async close(): Promise<void> {
    const requester = this.requester;
    this.requester = undefined;
    await requester?.then((r) => r.close()).catch(() => undefined);
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.connection.close().catch(() => undefined); // closed already
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  private async call<T>(
    exchange: string,
    routingKey: string,
    body: unknown,
    okStatus: number,
    options: RequestOptions,
    properties: Options.Publish & { messageId: string },
  ): Promise<T> {
    const entityId = options.entityId ?? this.options.entityId;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const requester = await this.openRequester();
    const reply = await requester.request({
      exchange,
      routingKey,
      body: Buffer.from(JSON.stringify(body)),
      properties: {
        ...properties,
        contentType: CONTENT_TYPE,
        headers: entityId ? { [Header.entityId]: entityId } : {},
        ...(this.userId === undefined ? {} : { userId: this.userId }),
      },
      messageId: properties.messageId,
      timeoutMs,
    });
    const status = Number(reply.properties.headers?.[Header.status]);
    const decoded = decode(reply, routingKey);
    if (status === okStatus) return decoded as T;
    if (!Number.isInteger(status)) throw new InvoicebusError(`the reply to ${routingKey} has no ${Header.status}`);
    throw new ErrorReply(status, decoded as ErrorBody);
  }

  /** The request channel; a closed one (channel error, refused message) is replaced once. */
  private async openRequester(): Promise<Requester> {
    for (;;) {
      const opening = this.requester;
      const current = await opening?.catch(() => undefined);
      if (current && !current.closed) return current;
      if (this.requester !== opening) continue; // another request replaced it meanwhile
      this.requester = Requester.open(this.connection).catch((error: unknown) => {
        throw new Unavailable(`cannot open a channel to RabbitMQ: ${String(error)}`, { cause: error });
      });
      return this.requester;
    }
  }

  private async checkExchanges(): Promise<void> {
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined); // a missing exchange closes the channel; handled below
    // Only what every user must reach: a tenant's user may not even look at the events
    // exchange (RabbitMQ 4 checks passive declares too); subscribing checks its own.
    for (const name of [this.exchanges.commands, this.exchanges.queries]) {
      try {
        await channel.checkExchange(name);
      } catch (error) {
        throw new Unavailable(
          `exchange ${name} does not exist: is the prefix right, and have the services started once?`,
          { cause: error },
        );
      }
    }
    await channel.close();
  }
}

function decode(reply: ConsumeMessage, routingKey: string): unknown {
  try {
    return JSON.parse(reply.content.toString('utf8'));
  } catch {
    throw new InvoicebusError(`the reply to ${routingKey} is not JSON`);
  }
}

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** The user an AMQP URL logs in as, if it names one. */
function urlUser(url: string): string | undefined {
  const user = parseUrl(url)?.username;
  return user ? decodeURIComponent(user) : undefined;
}

/** The URL without its password, for error messages. */
function redacted(url: string): string {
  const parsed = parseUrl(url);
  if (!parsed) return '<invalid URL>';
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
