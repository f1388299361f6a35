"""HTTP request/response models of the recommendation API (validated by pydantic; 4xx name the field)."""


from pydantic import BaseModel, ConfigDict, Field


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(..., min_length=1, max_length=512, description="Catalogue item id.")
    domain: str | None = Field(None, max_length=128, description="Optional; must match the catalogue.")
    timestamp: int | None = Field(None, description="Unix seconds; when given, history is ordered by it.")


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, max_length=256)
    history: list[HistoryItem] = Field(default_factory=list, description="The user's interactions, any domain.")
    target_domain: str = Field(..., min_length=1, max_length=128)
    k: int = Field(10, ge=1, le=1000)
    exclude_seen: bool = True


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[RecommendRequest] = Field(..., min_length=1, max_length=256)


class ScoredItem(BaseModel):
    item_id: str
    text: str
    score: float


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
