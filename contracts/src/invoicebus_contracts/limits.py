"""Every size limit of the wire contract, in one place.

Limits protect the services (memory, index keys, log lines) and give clients a clear,
documented error instead of a surprise. Changing one is a contract change.
"""

from decimal import Decimal

#: Largest accepted message body, in bytes (commands and list requests alike).
MAX_BODY_BYTES = 64 * 1024

#: A JSON number has at most this many characters and a decimal exponent within
#: ``±NUMBER_MAX_EXPONENT`` (the range of the decimal128 numbers are stored as), so reading one
#: never costs more than its length: ``1e10000000`` is 10 characters but a 10-million-digit
#: integer.
NUMBER_MAX_CHARS = 100
NUMBER_MAX_EXPONENT = 6144

NAME_MAX = 256
TEXT_MAX = 256  # address lines, city, state, country, unit, tax name/classification
POST_CODE_MAX = 32
TAX_NUMBER_MAX = 64
EMAIL_MAX = 254  # RFC 5321 path limit
DESCRIPTION_MAX = 4000
ID_MAX = 64

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 250

#: Money: at most 2 decimal places and below this bound, so every amount has at most
#: 15 significant digits and survives a JSON number round trip in any language exactly.
MONEY_MAX = Decimal("1000000000000")  # exclusive
MONEY_PLACES = 2
RATE_PLACES = 4
MAX_TAXES_PER_ITEM = 10

LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100
SEARCH_MAX = 200
QUERY_MAX_BYTES = 8 * 1024
QUERY_MAX_FIELDS = 20
QUERY_MAX_IN_VALUES = 100
CURSOR_MAX = 1024

#: Events one ``events.replay`` request republishes at most, and by default; follow
#: ``next_cursor`` for more.
REPLAY_LIMIT_DEFAULT = 1000
REPLAY_LIMIT_MAX = 10_000
#: AMQP's limit of a queue name (a short string).
QUEUE_NAME_MAX = 255
