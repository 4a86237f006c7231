"""YouTube list API."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from tracks import openapi as docs
from tracks import youtube
from tracks.serializers import YouTubeAddSerializer


def _listing() -> dict:
    items = youtube.youtube_list()
    return {"count": len(items), "results": items}


class YouTubeListView(APIView):
    @extend_schema(operation_id="youtube_list", responses=docs.YouTubeListSerializer,
                   examples=[docs.YOUTUBE_LIST])
    def get(self, request):
        return Response(_listing())

    @extend_schema(request=YouTubeAddSerializer, operation_id="youtube_create",
                   responses={201: docs.YouTubeItemSerializer, 200: docs.YouTubeItemSerializer},
                   examples=[docs.YOUTUBE_ADD, docs.YOUTUBE_ITEM])
    def post(self, request):
        body = YouTubeAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item, created = youtube.youtube_add(video_id=body.validated_data["url"])
        return Response(item, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class YouTubeDetailView(APIView):
    @extend_schema(operation_id="youtube_destroy", responses={204: None})
    def delete(self, request, video_id: str):
        if not youtube.is_video_id(video_id) or not youtube.youtube_delete(video_id=video_id):
            raise NotFound("This video is not in the list.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class YouTubeCompactView(APIView):
    @extend_schema(request=None, operation_id="youtube_compact", responses=docs.YouTubeListSerializer,
                   examples=[docs.YOUTUBE_LIST])
    def post(self, request):
        youtube.youtube_compact()
        return Response(_listing())
