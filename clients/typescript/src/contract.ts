/* Generated from docs/asyncapi.yaml by scripts/generate-types.mjs: do not edit.
 * Run `make typescript-types` after `make asyncapi` to refresh it. */

export type ErrorCode =
  | 'validation_error'
  | 'entity_not_found'
  | 'tax_not_found'
  | 'resource_already_exists'
  | 'idempotency_conflict'
  | 'invalid_query'
  | 'invalid_cursor'
  | 'internal_error'
  | 'unauthenticated'
  | 'query_timeout'
  | 'service_unavailable'
  | 'gateway_timeout';

/**
 * Per resource (the routing-key prefix): the create command body, the created resource, the list request, the list page and the rejected-event body; and the error body.
 */
export interface Contract {
  resources: {
    entity: {
      command: CreateEntity;
      resource: Entity;
      listRequest: ListRequest;
      page: ListReplyEntity;
      rejected: Rejected;
    };
    customer: {
      command: CreateCustomer;
      resource: Customer;
      listRequest: ListRequest;
      page: ListReplyCustomer;
      rejected: Rejected;
    };
    tax: {
      command: CreateTax;
      resource: Tax;
      listRequest: ListRequest;
      page: ListReplyTax;
      rejected: Rejected;
    };
    item: {
      command: CreateItem;
      resource: Item;
      listRequest: ListRequest;
      page: ListReplyItem;
      rejected: Rejected;
    };
  };
  errorBody: ErrorBody;
}
/**
 * ``entity.create``: the business that issues invoices; owns customers, taxes and items.
 */
export interface CreateEntity {
  /**
   * Name, as it appears on invoices
   */
  name: string;
  /**
   * Email address
   */
  email?: string | null;
  /**
   * Tax (VAT) number
   */
  tax_number?: string | null;
  /**
   * Street address
   */
  address?: string | null;
  /**
   * Second address line
   */
  address_2?: string | null;
  /**
   * Postal code
   */
  post_code?: string | null;
  /**
   * City
   */
  city?: string | null;
  /**
   * State or region
   */
  state?: string | null;
  /**
   * Country name
   */
  country?: string | null;
  /**
   * ISO 3166-1 alpha-2 country code, e.g. SI
   */
  country_code?: string | null;
  /**
   * Your own string keys and values, e.g. a CRM id
   */
  metadata?: {
    [k: string]: string;
  };
}
export interface Entity {
  id: string;
  name: string;
  email: string | null;
  address: string | null;
  address_2: string | null;
  post_code: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  country_code: string | null;
  tax_number: string | null;
  metadata: {
    [k: string]: string;
  };
  created_at: string;
  updated_at: string;
}
/**
 * Body of ``<resource>.list``; every field is optional.
 *
 * Strict, like the commands' fields: ``"10"``, ``10.0`` or ``true`` is not a ``limit``, and
 * ``"yes"``, ``1`` or ``"true"`` is not a boolean.
 */
export interface ListRequest {
  limit?: number;
  next_cursor?: string | null;
  prev_cursor?: string | null;
  include_total_count?: boolean;
  order_by?: string | null;
  query?:
    | {
        [k: string]: unknown;
      }
    | string
    | null;
  search?: string | null;
}
export interface ListReplyEntity {
  data: Entity[];
  pagination: Pagination;
}
export interface Pagination {
  total: number;
  next_cursor: string | null;
  prev_cursor: string | null;
  has_more: boolean;
}
/**
 * Body of a ``<resource>.rejected`` event.
 */
export interface Rejected {
  command_id: string | null;
  error: Error;
}
export interface Error {
  type: string;
  code: ErrorCode;
  message: string;
  errors?: ErrorDetail[];
}
export interface ErrorDetail {
  loc: (string | number)[];
  msg: string;
}
/**
 * ``customer.create`` (``POST /customers``).
 */
export interface CreateCustomer {
  /**
   * Name, as it appears on invoices
   */
  name: string;
  /**
   * Email address
   */
  email?: string | null;
  /**
   * Tax (VAT) number
   */
  tax_number?: string | null;
  /**
   * Street address
   */
  address?: string | null;
  /**
   * Second address line
   */
  address_2?: string | null;
  /**
   * Postal code
   */
  post_code?: string | null;
  /**
   * City
   */
  city?: string | null;
  /**
   * State or region
   */
  state?: string | null;
  /**
   * Country name
   */
  country?: string | null;
  /**
   * ISO 3166-1 alpha-2 country code, e.g. SI
   */
  country_code?: string | null;
  /**
   * Your own string keys and values, e.g. a CRM id
   */
  metadata?: {
    [k: string]: string;
  };
}
export interface Customer {
  id: string;
  name: string;
  email: string | null;
  address: string | null;
  address_2: string | null;
  post_code: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  country_code: string | null;
  tax_number: string | null;
  entity_id: string;
  metadata: {
    [k: string]: string;
  };
  vies?: null;
  created_at: string;
  updated_at: string;
}
export interface ListReplyCustomer {
  data: Customer[];
  pagination: Pagination;
}
/**
 * ``tax.create``: a tax rate of the entity; ``classification`` is unique per entity.
 */
export interface CreateTax {
  /**
   * Percent, 0..100, e.g. 22 or 9.5
   */
  rate: number;
  /**
   * Name, e.g. VAT 22%
   */
  name?: string | null;
  /**
   * Unique per entity, e.g. standard
   */
  classification?: string | null;
}
export interface Tax {
  id: string;
  name: string | null;
  rate: number;
  classification: string | null;
  entity_id: string;
  created_at: string;
  updated_at: string;
}
export interface ListReplyTax {
  data: Tax[];
  pagination: Pagination;
}
/**
 * ``item.create`` (``POST /items``), plus ``unit``.
 */
export interface CreateItem {
  /**
   * Name, as it appears on invoices
   */
  name: string;
  /**
   * Longer description
   */
  description?: string | null;
  /**
   * Net unit price
   */
  price?: number | null;
  /**
   * Gross unit price (instead of price)
   */
  gross_price?: number | null;
  /**
   * Taxes by rate or classification
   *
   * @maxItems 10
   */
  taxes?: TaxRef[];
  /**
   * Existing tax id
   *
   * @maxItems 10
   */
  tax_ids?: string[];
  /**
   * Unit of sale, e.g. piece or hour
   */
  unit?: string | null;
  /**
   * Your own string keys and values, e.g. a SKU
   */
  metadata?: {
    [k: string]: string;
  };
}
/**
 * An item's inline tax: ``{"rate": 22}`` (reuse or create one with that rate) or
 * ``{"classification": "standard"}`` (look an existing one up).
 */
export interface TaxRef {
  /**
   * Tax by rate (reused or created)
   */
  rate?: number | null;
  /**
   * Existing tax by classification
   */
  classification?: string | null;
}
export interface Item {
  id: string;
  name: string;
  description: string | null;
  price: number | null;
  gross_price: number | null;
  total_tax: number;
  tax_ids: string[];
  unit: string | null;
  entity_id: string;
  metadata: {
    [k: string]: string;
  };
  created_at: string;
  updated_at: string;
}
export interface ListReplyItem {
  data: Item[];
  pagination: Pagination;
}
/**
 * ``{"error": {...}}``: the body of every error reply.
 */
export interface ErrorBody {
  error: Error;
}
