"""The one error body of the JSON API, for every router's 4xx responses.

Every refusal is answered by lorastudio.api's one handler: `detail` says what is wrong and what
to do, and a refusal may add what it knows beside it (`fields`, each field's problems; `field`;
`permission`; `retry_after`; a budget's `cost` and `left`; an idempotent start's `started`).
"""

from ninja import Schema
from pydantic import ConfigDict


class Error(Schema):
    model_config = ConfigDict(extra="allow")

    detail: str
