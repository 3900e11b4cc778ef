"""Parts of the SDK that need no broker: its names, the error it raises for a refusal, which
dead letters a filter chooses, and which of them a replay would send straight back."""

from __future__ import annotations

from typing import Any

import pytest

import invoicebus_client
from invoicebus_client import DeadLetter, DeadLetterFilter, ErrorReply, encode_body
from invoicebus_client.dlq import contract_refusal
from invoicebus_contracts import CreateItem, ErrorBody, ErrorCode
from tests.support.packages import assert_names_declared_alike


def test_every_public_name_loads_and_is_declared_alike_for_type_checkers_and_at_runtime() -> None:
    assert_names_declared_alike(invoicebus_client)


def test_an_error_reply_carries_the_contracts_error_body() -> None:
    raw = (
        b'{"error": {"type": "invalid_request_error", "code": "tax_not_found", "message": "no",'
        b' "errors": [{"loc": ["taxes", 0], "msg": "no"}]}}'
    )
    refused = ErrorReply(422, raw)
    assert isinstance(refused.body, ErrorBody)
    assert refused.body.error.code is ErrorCode.TAX_NOT_FOUND
    assert (refused.code, refused.message, refused.errors[0].loc) == (
        "tax_not_found",
        "no",
        ["taxes", 0],
    )
    assert str(refused) == "422 tax_not_found: no"


def test_an_error_code_newer_than_the_client_is_kept_as_it_came() -> None:
    raw = (
        b'{"error": {"type": "invalid_request_error", "code": "payment_required", "message": "?"}}'
    )
    refused = ErrorReply(402, raw)
    assert (refused.status, refused.code, refused.message) == (402, "payment_required", "?")
    assert refused.raw["error"]["code"] == "payment_required"
    garbage = ErrorReply(500, b"<html>")
    assert (garbage.code, garbage.message, garbage.raw) == ("unknown", "<html>", "<html>")


def letter(**fields: object) -> DeadLetter:
    base: dict[str, object] = {
        "message_id": "m-1", "routing_key": "customer.create", "original_exchange": "ib.commands",
        "original_routing_key": "customer.create", "error_code": "validation_error",
        "error_message": "x", "error": None, "dead_lettered_at": None, "death": [],
        "entity_id": "ent_1", "properties": {}, "headers": {}, "body": None,
    }  # fmt: skip
    return DeadLetter(**{**base, **fields})  # type: ignore[arg-type]


def test_a_filter_chooses_by_every_criterion_given() -> None:
    assert DeadLetterFilter.of().everything
    assert DeadLetterFilter.of(["m-1"]).matches(letter())
    assert not DeadLetterFilter.of(["m-2"]).matches(letter())
    assert DeadLetterFilter.of(error_code="validation_error", entity_id="ent_1").matches(letter())
    assert not DeadLetterFilter.of(error_code="validation_error", entity_id="ent_2").matches(
        letter()
    )
    assert not DeadLetterFilter.of(error_code="tax_not_found").matches(letter())


def test_a_replay_would_send_back_only_what_the_contract_accepts() -> None:
    assert contract_refusal(letter(), b'{"name": "Fine now"}') is None
    refusal = contract_refusal(letter(), b'{"name": "Bad", "colour": "red"}')
    assert refusal is not None and refusal.error.errors[0].loc == ["colour"]
    unknown = contract_refusal(letter(original_routing_key="customer.delete"), b"{}")
    assert unknown is not None and "not a command of the contract" in unknown.error.message


def test_bodies_keep_numbers_exact_and_models_send_only_what_was_given() -> None:
    from decimal import Decimal

    assert (
        encode_body({"price": Decimal("0.10"), "name": "Č"})
        == '{"price": 0.1, "name": "Č"}'.encode()
    )
    model = CreateItem.model_validate({"name": "Tea", "price": Decimal("1.20")})
    assert encode_body(model) == b'{"name":"Tea","price":1.2}'


def test_a_failed_connection_says_which_failure_it_is_without_the_password() -> None:
    from aio_pika.exceptions import (
        AMQPConnectionError,
        InvalidFrameError,
        ProbableAuthenticationError,
    )

    from invoicebus_client import BrokerRefused, Unavailable
    from invoicebus_client.connecting import connect_error, vhost

    url = "amqp://ops:s3cret@broker:5672/billing%2Fprod"
    assert vhost(url) == "billing/prod"
    assert vhost("amqp://ops:x@broker:5672/") == vhost("amqp://ops:x@broker") == "/"
    frame = InvalidFrameError("Expected one of ['Connection.OpenOk'], got <Connection.Close>")
    cases = {
        "vhost": connect_error(frame, url),
        "credentials": connect_error(ProbableAuthenticationError("ACCESS_REFUSED"), url),
        "unreachable": connect_error(AMQPConnectionError(111, "Connect call failed"), url),
        "timeout": connect_error(TimeoutError(), url),
    }
    assert isinstance(cases["vhost"], BrokerRefused)
    assert "refused virtual host 'billing/prod'" in str(cases["vhost"])
    assert isinstance(cases["credentials"], BrokerRefused)
    assert "refused the credentials of user 'ops'" in str(cases["credentials"])
    assert type(cases["unreachable"]) is Unavailable
    assert str(cases["unreachable"]).endswith(": Connect call failed")
    assert "no answer within" in str(cases["timeout"])
    assert all("s3cret" not in str(e) and "amqp://ops:***@broker" in str(e) for e in cases.values())


async def test_retried_runs_the_step_again_only_for_failures_worth_it() -> None:
    from invoicebus_client.transport import retried

    calls: list[int] = []

    def flaky(failures: int, error: Exception) -> Any:
        async def step() -> str:
            calls.append(1)
            if len(calls) <= failures:
                raise error
            return "done"

        return lambda: step()  # as the transport passes its steps: a coroutine per call

    assert await retried(flaky(2, ConnectionError()), attempts=4, worth_it=lambda e: True,
                         backoff=0.001) == "done"  # fmt: skip
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ConnectionError):
        await retried(flaky(9, ConnectionError()), attempts=3, worth_it=lambda e: True,
                      backoff=None)  # fmt: skip
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError, match="not worth it"):
        await retried(flaky(9, ValueError("not worth it")), attempts=3,
                      worth_it=lambda e: isinstance(e, ConnectionError), backoff=None)  # fmt: skip
    assert len(calls) == 1
