/** What the client throws. Every error is an `InvoicebusError`; narrow with `instanceof`. */
import type { ErrorCode, ErrorDetail } from './contract.js';
import type { ErrorBody } from './wire.js';

/** Base of every error the client throws. */
export class InvoicebusError extends Error {
  override name = 'InvoicebusError';
}

/**
 * The service answered with an error status (`x-status` 4xx or 500). `body` is the contract's
 * error body; `errors[].loc` names the fields at fault.
 */
export class ErrorReply extends InvoicebusError {
  override name = 'ErrorReply';

  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.error?.code ?? 'error'}: ${body.error?.message ?? JSON.stringify(body)}`);
  }

  /** The error code. A newer service may send a code this version's types do not list. */
  get code(): ErrorCode | (string & {}) {
    return this.body.error?.code;
  }

  get errors(): ErrorDetail[] {
    return this.body.error?.errors ?? [];
  }
}

/**
 * No reply in time. A command may still be processed: send it again with the same
 * `messageId`, and the service answers with the original resource instead of a second one.
 */
export class NoReply extends InvoicebusError {
  override name = 'NoReply';

  constructor(
    readonly routingKey: string,
    readonly messageId: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply to ${routingKey} (message_id ${messageId}) within ${timeoutMs} ms; is the service running?`);
  }
}

/**
 * The broker cannot be reached, refused the message (a channel error such as a `user_id`
 * that is not the connection's user), did not confirm it, or had no queue for it.
 */
export class Unavailable extends InvoicebusError {
  override name = 'Unavailable';
}
