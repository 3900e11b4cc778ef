export { InvoicebusClient, type ClientOptions, type CreateOptions, type RequestOptions } from './client.js';
export { ErrorReply, InvoicebusError, NoReply, Unavailable } from './errors.js';
export type { EventHandler, SubscribeOptions, Subscription } from './events.js';
export {
  DEFAULT_PREFIX,
  type CommandOf,
  type CreatedEvent,
  type ErrorBody,
  type EventMeta,
  type InvoicebusEvent,
  type ListRequestOf,
  type PageOf,
  type RejectedEvent,
  type ResourceName,
  type ResourceOf,
} from './wire.js';
export type {
  CreateCustomer,
  CreateEntity,
  CreateItem,
  CreateTax,
  Customer,
  Entity,
  Error as ContractError,
  ErrorCode,
  ErrorDetail,
  Item,
  ListRequest,
  Pagination,
  Rejected,
  Tax,
  TaxRef,
} from './contract.js';
