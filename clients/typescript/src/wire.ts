/**
 * Names of the wire contract (docs/wire-contract.md) and the types it derives per resource.
 * The types themselves are generated from the contract models into contract.ts.
 */
import type { Contract } from './contract.js';

export const DEFAULT_PREFIX = 'invoicebus';
/** RabbitMQ's direct reply-to pseudo-queue: replies come back without a queue of our own. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
export const CONTENT_TYPE = 'application/json';

export const Header = {
  entityId: 'x-entity-id',
  status: 'x-status',
  eventType: 'x-event-type',
} as const;

/** The exchanges of one topology prefix. */
export function exchanges(prefix: string): {
  commands: string;
  queries: string;
  events: string;
  tenantEvents: string;
} {
  return {
    commands: `${prefix}.commands`,
    queries: `${prefix}.queries`,
    events: `${prefix}.events`,
    // The same events under `<entity id>.<event type>`: all a tenant's broker user may bind.
    tenantEvents: `${prefix}.tenant-events`,
  };
}

type Resources = Contract['resources'];
/** `entity`, `customer`, `tax` or `item`: the first part of every routing key. */
export type ResourceName = keyof Resources;
/** The body of `<resource>.create`. */
export type CommandOf<R extends ResourceName> = Resources[R]['command'];
/** A resource as replies, events and list pages carry it. */
export type ResourceOf<R extends ResourceName> = Resources[R]['resource'];
export type ListRequestOf<R extends ResourceName> = Resources[R]['listRequest'];
/** One page of `<resource>.list`: `{data, pagination}`. */
export type PageOf<R extends ResourceName> = Resources[R]['page'];
export type ErrorBody = Contract['errorBody'];

/** What every event carries besides its body. */
export interface EventMeta {
  /** The event id (`evt_...`, the AMQP message_id): deduplicate on it. */
  id: string | undefined;
  /** The `message_id` of the command that caused the event. */
  correlationId: string | undefined;
  entityId: string | undefined;
}

/** `<resource>.created`: the body is the created resource. */
export type CreatedEvent = {
  [R in ResourceName]: EventMeta & { type: `${R}.created`; body: ResourceOf<R> };
}[ResourceName];

/** `<resource>.rejected`: the refused command's id and the error. */
export type RejectedEvent = {
  [R in ResourceName]: EventMeta & { type: `${R}.rejected`; body: Resources[R]['rejected'] };
}[ResourceName];

/** An event from the events exchange; `type` (the `x-event-type` header) tells which. */
export type InvoicebusEvent = CreatedEvent | RejectedEvent;
