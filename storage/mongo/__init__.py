"""The MongoDB store on motor; every motor/pymongo call of `MongoStore` lives in this package.

`store` composes the parts: `database` (connection, write concern, shared document helpers),
`conversations` (events, turns, messages, outbox, timers, dead letters), `stock` (catalogue and
holds), `orders` (orders, payments, documents) and `lease` (one process without Redis).
"""

from storage.mongo.database import DEFAULT_WRITE_CONCERN, parse_write_concern
from storage.mongo.lease import StoreLeaseHeld
from storage.mongo.store import MongoStore

__all__ = ["DEFAULT_WRITE_CONCERN", "MongoStore", "StoreLeaseHeld", "parse_write_concern"]
