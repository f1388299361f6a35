"""HTTP request/response models of the recommendation API (validated by pydantic; 4xx name the field)."""


from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

MAX_EXPLAIN_N = 10


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(..., min_length=1, max_length=512, description="Catalogue item id.")
    domain: str | None = Field(None, max_length=128, description="Optional; must match the catalogue.")
    timestamp: StrictInt | None = Field(None, description="Unix seconds (an integer); when given, history is ordered by it.")


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, max_length=256)
    history: list[HistoryItem] = Field(default_factory=list, description="The user's interactions, any domain.")
    target_domain: str = Field(..., min_length=1, max_length=128)
    k: StrictInt = Field(10, ge=1, le=1000, description="Items to return (an integer; \"10\", 10.0 or true are refused).")
    exclude_seen: StrictBool = Field(True, description="Drop target items already in the history (a JSON boolean).")
    explain: StrictBool = Field(False, description="Add `because` to each item: the history items that pushed its "
                                "score up most (exact leave-one-out through the model; costs one batched forward "
                                "of the history's variants). Must be a JSON boolean.")
    explain_n: StrictInt = Field(3, ge=1, le=MAX_EXPLAIN_N, description="At most this many history items per "
                                 "recommended item in `because` (an integer).")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[RecommendRequest] = Field(..., min_length=1, max_length=256)


class Reason(BaseModel):
    """A history item that pushed a recommended item's score up."""

    item_id: str
    domain: str
    text: str
    weight: float = Field(description="How much the item's score drops when this history item is removed (> 0).")


class ScoredItem(BaseModel):
    item_id: str
    text: str
    score: float
    because: list[Reason] | None = Field(None, description="With `explain: true`: the history items (any domain) "
                                         "that drove this recommendation, strongest first; [] for a cold start.")


class RecommendResponse(BaseModel):
    user_id: str | None = None
    target_domain: str
    items: list[ScoredItem]
    model_version: str
    cold_start: bool = Field(description="True when no known history item was usable: popularity fallback.")
    unknown_items: list[str] = Field(default_factory=list)


class BatchResponse(BaseModel):
    responses: list[RecommendResponse]


class DomainInfo(BaseModel):
    domain: str
    catalogue_size: int
    servable: bool = Field(description="A trained target head exists for this domain.")


class DomainsResponse(BaseModel):
    model_version: str
    domains: list[DomainInfo]
