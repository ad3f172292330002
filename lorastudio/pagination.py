"""The API's one pagination: limit and offset, both bounded.

An unbounded `limit` lets one request read a whole table; an offset past PostgreSQL's bigint
is a 500. Both are refused as validation errors (422, naming the parameter) instead.
`NINJA_PAGINATION_CLASS` makes this the class every `@paginate` uses.
"""

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 100
MAX_OFFSET = 2**31 - 1


class LimitOffset(LimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

    def __init__(self, **kwargs):
        super().__init__(max_limit=MAX_PAGE_SIZE, **kwargs)
