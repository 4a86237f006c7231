"""Search API: validate, run the search (search/service.py), answer."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from quantumlive.permissions import AuthenticatedOnly
from search import openapi as docs
from search.providers import SERVICE_NAMES
from search.serializers import SearchAnswerSerializer, SearchBodySerializer, SearchParamsSerializer
from search.service import search_run


class SearchView(APIView):
    permission_classes = [AuthenticatedOnly]
    throttle_scope = "search"  # quantumlive/throttles.py: QL_THROTTLE_SEARCH per user

    @extend_schema(parameters=[SearchParamsSerializer], responses=SearchAnswerSerializer,
                   operation_id="search_get", examples=[docs.ANSWER])
    def get(self, request):
        data = request.query_params.dict()
        if "services" in request.query_params:  # services=a,b or services=a&services=b
            data["services"] = ",".join(request.query_params.getlist("services"))
        params = SearchParamsSerializer(data=data)
        params.is_valid(raise_exception=True)
        return Response(_run(params.validated_data, query_field="q", user_id=request.user.pk))

    @extend_schema(request=SearchBodySerializer, responses=SearchAnswerSerializer,
                   operation_id="search_post", examples=[docs.BODY, docs.ANSWER])
    def post(self, request):
        body = SearchBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(_run(body.validated_data, query_field="query", user_id=request.user.pk))


def _run(values: dict, *, query_field: str, user_id) -> dict:
    """The answer; quota units are charged to the authenticated user (AuthenticatedOnly:
    anonymous clients never get here)."""
    return search_run(query=values[query_field],
                      services=values.get("services") or list(SERVICE_NAMES),
                      limit=values["limit"], user_id=user_id)
