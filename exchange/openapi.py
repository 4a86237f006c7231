"""The answers of the export and import endpoints, for the OpenAPI document (the views answer
files and plain dicts)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

PLAYLIST_ID = OpenApiParameter("playlist_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                               description="The playlist's UUID (a malformed one is 404).")
JOB_ID = OpenApiParameter("job_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                          description="The import job's UUID (a malformed one is 404).")

FILE_ANSWERS = {
    (200, "audio/x-mpegurl"): OpenApiResponse(OpenApiTypes.BINARY, description=(
        "`format=m3u8`: extended M3U, UTF-8 without a byte-order mark (`Content-Disposition: attachment`).")),
    (200, "application/xml"): OpenApiResponse(OpenApiTypes.BINARY, description=(
        "`format=rekordbox`: rekordbox's XML exchange file (`Content-Disposition: attachment`).")),
}

_FORMATS = (
    "`m3u8`: `#EXTM3U`, then per entry `#EXTINF:<whole seconds, -1 when unknown>,<artist> - <title>` and "
    "`root` + `/` + `location` (else the track's first source URL; a track with neither is one comment line). "
    "`rekordbox`: `DJ_PLAYLISTS Version=\"1.0.0\"`, `PRODUCT`, `COLLECTION Entries=` with one `TRACK` per "
    "distinct track (`TrackID` 1, 2, … in order of first appearance, `Name`, `Artist`, `Genre` (the first "
    "genre), `TotalTime` (whole seconds, 0 when unknown), `AverageBpm` (`124.00`), `Tonality` (`Am`, `F#m`, "
    "`C`), `Location` (`file://localhost/` URL, percent-encoded UTF-8; empty when the track has no location), "
    "a `TEMPO` at the first downbeat when the track has a beat grid, one memory cue `POSITION_MARK` per cue), "
    "then `PLAYLISTS` with the `ROOT` node. Any other `format` is 400.")
EXPORT_LIBRARY = "The whole library, in library order. " + _FORMATS + " The library's XML has no playlist node."
EXPORT_PLAYLIST = ("The playlist's entries in order (a private playlist is 404 to all but its owner and staff). "
                   + _FORMATS + " The playlist is one node (`Type=\"1\"`, `KeyType=\"0\"`) whose `TRACK Key=` "
                   "follow its entries (repeats kept).")
IMPORT = (
    "Imports a rekordbox XML file or an M3U/M3U8 playlist (told by its content). Tracks are matched to the "
    "library by `location`, else by artist + title + duration within 2 s, else created (a track the API "
    "would refuse is skipped, with the reason). Each playlist of the file becomes a playlist of the caller "
    "(rekordbox folders flattened to `Folder / Name`; an M3U is one playlist named after the file): one of "
    "theirs with the same name has its entries replaced (not written when they are already equal). "
    "Importing the same file twice changes nothing the second time. Absolute paths and `file://` URLs "
    "(Windows ones too) under `root` or QL_AUDIO_ROOT become locations; a path that stays absolute or "
    "climbs with `..` is skipped. A file that is not one of these formats, XML with a DTD or entities, "
    "or nested too deep is 400; over QL_MAX_UPLOAD_MB 413; nothing is written then. A file with more than "
    "QL_IMPORT_SYNC_MAX_TRACKS tracks, or larger than QL_IMPORT_SYNC_MAX_BYTES, is imported by a job: "
    "202 with its URL (a large file is not read in the request: its problems fail the job).")


class ImportedPlaylistSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    entries = serializers.IntegerField(help_text="How many entries it holds now.")
    status = serializers.CharField(help_text="`created`, `replaced` (its entries) or `unchanged`.")


class SkippedSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, help_text="The M3U line (1-based).")
    track = serializers.CharField(required=False, help_text="The rekordbox TrackID (or Key).")
    playlist = serializers.CharField(required=False, help_text="The playlist's name.")
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    tracks_created = serializers.IntegerField()
    tracks_matched = serializers.IntegerField()
    playlists = ImportedPlaylistSerializer(many=True)
    skipped = SkippedSerializer(many=True)


class ImportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(help_text="`queued`, `running`, `done` or `failed`.")
    url = serializers.URLField()
    created = serializers.CharField(required=False)
    finished = serializers.CharField(required=False, allow_null=True)
    report = ImportReportSerializer(required=False, allow_null=True, help_text="When done.")
    error = serializers.CharField(required=False, allow_null=True, help_text="When failed.")


REPORT_EXAMPLE = OpenApiExample("report", response_only=True, status_codes=["200"], value={
    "tracks_created": 2, "tracks_matched": 1,
    "playlists": [{"id": "8d0c2f4e-4b43-4a8e-9c59-0e8b8e1d4d11", "name": "Sets / Friday", "entries": 3,
                   "status": "created"}],
    "skipped": [{"track": "7", "reason": "The path is not under the import's root or QL_AUDIO_ROOT: send "
                                        "root=<the music folder of the machine that wrote the file>."}]})
JOB_QUEUED = OpenApiExample("job queued", response_only=True, status_codes=["202"], value={
    "id": "3f2a9c1e-2b7d-4e55-9d0a-6c1b2e3f4a5b", "status": "queued",
    "url": "http://localhost:8000/api/imports/3f2a9c1e-2b7d-4e55-9d0a-6c1b2e3f4a5b/"})
JOB_DONE = OpenApiExample("job done", response_only=True, status_codes=["200"], value={
    "id": "3f2a9c1e-2b7d-4e55-9d0a-6c1b2e3f4a5b", "status": "done",
    "url": "http://localhost:8000/api/imports/3f2a9c1e-2b7d-4e55-9d0a-6c1b2e3f4a5b/",
    "created": "2026-12-07T06:00:00.000Z", "finished": "2026-12-07T06:00:21.512Z",
    "report": REPORT_EXAMPLE.value, "error": None})
M3U8_EXAMPLE = OpenApiExample("m3u8", response_only=True, status_codes=["200"], media_type="audio/x-mpegurl",
                              value="#EXTM3U\n#EXTINF:301,DJ Koze - Pick Up\n/Users/dj/Music/DJ Koze/Pick Up.mp3\n")
XML_EXAMPLE = OpenApiExample("rekordbox", response_only=True, status_codes=["200"],
                             media_type="application/xml", value=(
    '<?xml version="1.0" encoding="UTF-8"?>\n<DJ_PLAYLISTS Version="1.0.0">\n'
    '  <PRODUCT Name="QuantumLive" Version="1.0" Company="QuantumLive"/>\n  <COLLECTION Entries="1">\n'
    '    <TRACK TrackID="1" Name="Pick Up" Artist="DJ Koze" Genre="House" TotalTime="301" AverageBpm="124.00" '
    'Tonality="Am" Location="file://localhost/Users/dj/Music/DJ%20Koze/Pick%20Up.mp3">\n'
    '      <POSITION_MARK Name="drop" Type="0" Start="62.250" Num="-1"/>\n    </TRACK>\n  </COLLECTION>\n'
    '  <PLAYLISTS>\n    <NODE Type="0" Name="ROOT" Count="1">\n'
    '      <NODE Name="Friday" Type="1" KeyType="0" Entries="1">\n        <TRACK Key="1"/>\n      </NODE>\n'
    '    </NODE>\n  </PLAYLISTS>\n</DJ_PLAYLISTS>\n'))
LOCATION = OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=["202"],
                            description="The import job's URL (a file imported by a job).")
