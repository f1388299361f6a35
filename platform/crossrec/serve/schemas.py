"""HTTP request/response models of the recommendation API (validated by pydantic; 4xx name the field)."""


from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

MAX_EXPLAIN_N = 10
MAX_ITEM_TEXT = 4000  # characters of an item's text (the backbone reads its first backbone.max_length tokens)
MAX_CATALOGUE_UPDATE = 1000  # items added or removed by one admin call


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("text is empty or only whitespace")
    return value


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(..., min_length=1, max_length=512, description="Catalogue item id.")
    domain: str | None = Field(None, max_length=128, description="Optional for a catalogue item (must match the "
                               "catalogue); required with `text` for an item outside it (one of /domains).")
    timestamp: StrictInt | None = Field(None, description="Unix seconds (an integer); when given, history is ordered by it.")
    text: str | None = Field(None, max_length=MAX_ITEM_TEXT, description=(
        "The item's text, for an item outside the catalogue: it is then read through the backbone (with the "
        "target's adapter for target-domain items) instead of being dropped into `unknown_items`. Ignored for a "
        "catalogue item (the catalogue's text wins; a differing text is listed in `ignored_text`). Not empty, "
        f"at most {MAX_ITEM_TEXT} characters."))

    _text = field_validator("text")(_not_blank)


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
    catalogue_version: int = Field(0, description="The catalogue update the ranking used (0: the bundle's own).")
    cold_start: bool = Field(description="True when no known history item was usable: popularity fallback.")
    unknown_items: list[str] = Field(default_factory=list, description="History ids with neither a catalogue entry "
                                     "nor `text`: dropped.")
    ignored_text: list[str] = Field(default_factory=list, description="History ids found in the catalogue whose "
                                    "request `text` differed from the catalogue's: the catalogue's was used.")


class BatchResponse(BaseModel):
    responses: list[RecommendResponse]


class DomainInfo(BaseModel):
    domain: str
    catalogue_size: int
    servable: bool = Field(description="A trained target head exists for this domain.")


class DomainsResponse(BaseModel):
    model_version: str
    catalogue_version: int = Field(0, description="The published catalogue update this replica serves (0: none).")
    domains: list[DomainInfo]


class NewItem(BaseModel):
    """An item added to a running service's catalogue (recommendable in its domain when that is a target)."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(..., min_length=1, max_length=512)
    domain: str = Field(..., min_length=1, max_length=128, description="One of /domains.")
    text: str = Field(..., max_length=MAX_ITEM_TEXT, description=f"Not empty, at most {MAX_ITEM_TEXT} characters.")

    _text = field_validator("text")(_not_blank)


class CatalogueUpdateRequest(BaseModel):
    """``POST /admin/catalogue``: items to add and ids to remove, published as one new catalogue version."""

    model_config = ConfigDict(extra="forbid")

    add: list[NewItem] = Field(default_factory=list, max_length=MAX_CATALOGUE_UPDATE)
    remove: list[str] = Field(default_factory=list, max_length=MAX_CATALOGUE_UPDATE,
                              description="Item ids (bundle or added) that are never recommended again.")


class CatalogueUpdateResponse(BaseModel):
    model_version: str
    catalogue_version: int
    added: list[str] = Field(description="Ids added by this call (ids already there with the same text: no-op).")
    removed: list[str] = Field(description="Ids removed by this call (already removed: no-op).")
