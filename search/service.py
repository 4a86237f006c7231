"""search_run: the whole answer of API.md's Search (the fan-out, then the matches)."""

from search.fanout import fanout_search
from search.matching import find_matches
from search.providers.base import ITEM_FIELDS


def search_run(*, query: str, services: list[str], limit: int, user_id=None) -> dict:
    """`user_id`: whose share of the providers' quotas the calls sent upstream spend."""
    answers = fanout_search(query=query, services=services, limit=limit, user_id=user_id)
    matches = find_matches({name: answer["results"] for name, answer in answers.items()})
    for answer in answers.values():
        answer["results"] = [{name: item.get(name) for name in ITEM_FIELDS} for item in answer["results"]]
    return {"query": query, "services": answers, "matches": matches}
