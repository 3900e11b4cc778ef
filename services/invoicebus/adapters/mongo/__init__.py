"""MongoDB through PyMongo's native async API (``pymongo.AsyncMongoClient``)."""
