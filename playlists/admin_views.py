"""The admin's "Playlists" pages, built on the playlist store in Redis.

There is no ORM table of playlists: playlists/admin.py routes the admin URLs of the unmanaged
stand-in model here. Every read and write goes through playlists.store (the same locks,
fenced scripts and versions as the API). Staff see every playlist, whoever owns it.

Conflicts: every form of the change page (name/description/public, remove, move, add) carries
the version the page was loaded at and the store writes only if the playlist is still at that
version; a stale form is refused (409) with a note saying so, and nothing is changed. Positions
are 0-based, as the API's.
"""

import math
import uuid
from types import SimpleNamespace

from django.contrib import messages
from django.contrib.admin.utils import quote
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from playlists import store
from playlists.forms import PlaylistAddForm, PlaylistForm, parse_position
from playlists.models import Playlist
from tracks import store as library
from tracks.admin_pagination import PAGE_PARAM, PER_PAGE, BadPage, first_row, page_navigation, requested_page
from tracks.admin_views import _bad_request, _context, _require
from tracks.forms import parse_version
from tracks.serializers import TrackFilterSerializer, matcher

# The library search of the change page shows at most this many matches (refine to see others).
SEARCH_LIMIT = 25
SEARCH_PARAM = "q"
NAME_QUERY_MAX = 200
# The list's name search reads the playlists this many at a time.
_NAME_BATCH = 500

BUSY_NOTE = "The playlist is busy (another write holds its lock). Nothing was changed: try again."
NO_VERSION_NOTE = "The form is missing the version it was loaded at: reload the page."


# --- helpers ---------------------------------------------------------------------------------
def playlist_id_or_404(object_id: str) -> str:
    """The playlist id of an admin URL, canonical; Http404 when it is not a UUID."""
    try:
        return str(uuid.UUID(object_id))
    except ValueError:
        raise Http404("No playlist with this id.") from None


def _url(name: str, *args) -> str:
    return reverse(f"admin:playlists_{name}", args=args)


def hms(seconds) -> str:
    """A duration as h:mm:ss, to the nearest second, halves up (None: –)."""
    if seconds is None:
        return "–"
    whole = math.floor(seconds + 0.5)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _stamp(iso: str) -> str:
    return iso.replace("T", " ").rstrip("Z")[:19]


def playlist_label(playlist: dict) -> str:
    return f"“{playlist['name']}” ({playlist['owner']})"


def _track_label(track: dict) -> str:
    return f"“{track['title']}” by {track['artist']}"


def _gone(request, playlist_id: str):
    messages.warning(request, f"There is no playlist with id “{playlist_id}”. Perhaps it was deleted?")
    return HttpResponseRedirect(_url("playlist_changelist"))


def _permitted_playlist(playlist_id: str, allowed: bool) -> dict | None:
    """The playlist (None when there is none) for a user `allowed` to see it; else 403."""
    _require(allowed)
    return store.playlist_get(playlist_id=playlist_id)


def _conflict_note(loaded: int, current: int | None) -> str:
    return (
        f"This playlist was changed by someone else after you opened it (you loaded version {loaded}; "
        f"it is now version {current}). Nothing was changed: the page below shows the playlist as it is "
        f"now, make your change again."
    )


def _named(playlist_ids: list[str], q: str) -> list[dict]:
    """Those of these playlists whose name holds `q` (case-insensitive), read in batches."""
    folded = q.casefold()
    found = []
    for start in range(0, len(playlist_ids), _NAME_BATCH):
        found += [playlist for playlist in store.playlists_get(playlist_ids[start:start + _NAME_BATCH])
                  if folded in playlist["name"].casefold()]
    return found


# --- list ------------------------------------------------------------------------------------
def playlist_changelist(model_admin, request):
    _require(model_admin.has_view_or_change_permission(request))
    try:
        page_number = requested_page(request)
    except BadPage as exc:
        return _bad_request(model_admin, request, str(exc))
    q = request.GET.get("q", "")
    if len(q) > NAME_QUERY_MAX:
        return _bad_request(model_admin, request, f"q: Ensure this field has no more than {NAME_QUERY_MAX} characters.")
    ids = store.playlist_ids()
    total = len(ids)
    offset = first_row(page_number)
    if q:
        matching = _named(ids, q)
        count, page = len(matching), matching[offset:offset + PER_PAGE]
    else:
        count, page = total, store.playlists_get(ids[offset:offset + PER_PAGE])
    params = {"q": q} if q else {}
    navigation = page_navigation(number=page_number, count=count,
                                 url_of=lambda number: _query(params, p=None if number == 1 else number))
    rows = [{**playlist, "duration_text": hms(playlist["duration"]), "updated_text": _stamp(playlist["updated"]),
             "change_url": _url("playlist_change", quote(playlist["id"]))} for playlist in page]
    context = _context(model_admin, request, title="Playlists", subtitle=None, rows=rows, count=count,
                       total=total, q=q, **navigation)
    return TemplateResponse(request, "admin/playlist/change_list.html", context)


def _query(params: dict, **changes) -> str:
    merged = {k: v for k, v in params.items() if v not in ("", None)}
    for name, value in changes.items():
        if value in ("", None):
            merged.pop(name, None)
        else:
            merged[name] = value
    return "?" + urlencode(merged) if merged else "?"


# --- add -------------------------------------------------------------------------------------
def playlist_add(model_admin, request):
    _require(model_admin.has_add_permission(request))
    if request.method == "POST":
        form = PlaylistAddForm(request.POST)
        if form.is_valid():
            owner = form.owner_user
            playlist = store.playlist_create(owner_id=owner.pk, owner=owner.get_username(), **form.values)
            model_admin.log_addition(request, Playlist.stand_in(playlist), [{"added": {}}])
            messages.success(request, f"The playlist {playlist_label(playlist)} was added.")
            if "_continue" in request.POST:
                return HttpResponseRedirect(_url("playlist_change", quote(playlist["id"])))
            if "_addanother" in request.POST:
                return HttpResponseRedirect(_url("playlist_add"))
            return HttpResponseRedirect(_url("playlist_changelist"))
        status, errornote = 400, "Please correct the errors below: nothing was saved."
    else:
        form = PlaylistAddForm(initial={"owner": request.user.get_username()})
        status, errornote = 200, None
    context = _context(model_admin, request, title="Add playlist", subtitle=None, form=form, errornote=errornote)
    return TemplateResponse(request, "admin/playlist/add_form.html", context, status=status)


# --- change: the page ------------------------------------------------------------------------
def _state(request) -> tuple[int, str]:
    """(entries page, library search) the page was showing: from the query string on a GET,
    from the form's hidden fields on a POST. Malformed values fall back to page 1 / no search
    on a POST (a GET with a bad page is refused by the caller)."""
    source = request.POST if request.method == "POST" else request.GET
    try:
        page = requested_page(SimpleNamespace(GET={PAGE_PARAM: source.get(PAGE_PARAM, "1")}))
    except BadPage:
        page = 1
    return page, source.get(SEARCH_PARAM, "")


def _change_url(playlist_id: str, page: int = 1, search: str = "") -> str:
    query = _query({}, p=page if page > 1 else None, q=search[:NAME_QUERY_MAX] or None)
    return _url("playlist_change", quote(playlist_id)) + (query if query != "?" else "")


def _search(search: str) -> dict:
    """The library tracks whose title or artist holds `search` (the first SEARCH_LIMIT)."""
    if search == "":
        return {"results": [], "count": 0, "errors": []}
    body = TrackFilterSerializer(data={"q": search})
    if not body.is_valid():
        return {"results": [], "count": 0,
                "errors": [f"{line}" for value in body.errors.values() for line in value]}
    count, found = library.track_list(offset=0, limit=SEARCH_LIMIT, match=matcher(body.validated_data))
    return {"results": [{**track, "duration_text": hms(track["duration"])} for track in found],
            "count": count, "errors": []}


def _render_change(model_admin, request, playlist_id: str, *, page: int | None = None, search: str | None = None,
                   form=None, form_version: int | None = None, errornote: str | None = None, status: int = 200):
    """The change page as the playlist is now (None when it is gone): its fields (`form`, with
    the version it was loaded at), a page of its entries, and the library search."""
    state_page, state_search = _state(request)
    page = page or state_page
    search = state_search if search is None else search
    found = store.entries_page(playlist_id=playlist_id, offset=first_row(page), limit=PER_PAGE)
    if found is None:
        return None
    playlist, entries = found
    last_page = max(1, math.ceil(playlist["tracks"] / PER_PAGE))
    if page > last_page:
        if request.method == "GET":
            raise Http404(f"There is no page {page}: {playlist['tracks']} entries.")
        page = last_page
        playlist, entries = store.entries_page(playlist_id=playlist_id, offset=first_row(page),
                                               limit=PER_PAGE) or (playlist, [])
    navigation = page_navigation(number=page, count=playlist["tracks"],
                                 url_of=lambda number: _change_url(playlist_id, number, search))
    found_tracks = _search(search)
    if found_tracks["errors"] and status == 200:
        status = 400
    rows = [{**entry, "duration_text": hms(entry["track"]["duration"]), "added_text": _stamp(entry["added"]),
             "track_url": reverse("admin:tracks_track_change", args=(quote(entry["track"]["id"]),))}
            for entry in entries]
    context = _context(
        model_admin, request,
        title="Change playlist", subtitle=playlist_label(playlist),
        playlist=playlist, duration_text=hms(playlist["duration"]),
        form=form if form is not None else PlaylistForm(playlist=playlist),
        form_version=form_version if form_version is not None else playlist["version"],
        version=playlist["version"], entries=rows, page=page, search=search, errornote=errornote,
        search_results=found_tracks["results"], search_count=found_tracks["count"],
        search_errors=found_tracks["errors"], search_limit=SEARCH_LIMIT,
        can_change=model_admin.has_change_permission(request),
        can_delete=model_admin.has_delete_permission(request),
        delete_url=_url("playlist_delete", quote(playlist_id)),
        remove_url=_url("playlist_remove", quote(playlist_id)),
        move_url=_url("playlist_move", quote(playlist_id)),
        add_entry_url=_url("playlist_addtracks", quote(playlist_id)),
        history_url=_url("playlist_history", quote(playlist_id)),
        **navigation,
    )
    return TemplateResponse(request, "admin/playlist/change_form.html", context, status=status)


def _refused(model_admin, request, playlist_id: str, errornote: str, status: int, **page):
    """The change page again with a note saying why nothing was changed (or the list, when the
    playlist is gone)."""
    response = _render_change(model_admin, request, playlist_id, errornote=errornote, status=status, **page)
    return response if response is not None else _gone(request, playlist_id)


def _write(model_admin, request, playlist_id: str, write, *, version: int, **page):
    """Runs a store write conditioned on `version`: (its result, None), or (None, the answer
    saying why it was refused)."""
    try:
        return write(), None
    except store.VersionMismatch as exc:
        return None, _refused(model_admin, request, playlist_id, _conflict_note(version, exc.current), 409, **page)
    except store.LockTimeout:
        return None, _refused(model_admin, request, playlist_id, BUSY_NOTE, 503, **page)
    except store.PlaylistNotFound:
        return None, _gone(request, playlist_id)
    except store.BadRange as exc:
        return None, _refused(model_admin, request, playlist_id,
                              f"That position is outside the playlist ({exc.count} entries): nothing was moved.",
                              400, **page)
    except store.UnknownEntry:
        return None, _refused(model_admin, request, playlist_id,
                              "That entry is not in the playlist (any more): nothing was removed.", 400, **page)
    except store.UnknownTracks as exc:
        return None, _refused(model_admin, request, playlist_id,
                              f"The track {', '.join(exc.track_ids)} is not in the library (any more): "
                              f"nothing was added.", 400, **page)
    except store.TooManyEntries as exc:
        return None, _refused(model_admin, request, playlist_id,
                              f"A playlist holds at most {exc.limit} entries: nothing was added.", 400, **page)


def playlist_change(model_admin, request, object_id: str):
    playlist_id = playlist_id_or_404(object_id)
    playlist = _permitted_playlist(playlist_id, model_admin.has_view_or_change_permission(request))
    if playlist is None:
        return _gone(request, playlist_id)
    if request.method != "POST":
        try:
            requested_page(request)
        except BadPage as exc:
            return _bad_request(model_admin, request, str(exc))
        return _render_change(model_admin, request, playlist_id) or _gone(request, playlist_id)

    _require(model_admin.has_change_permission(request))
    version = parse_version(request.POST.get("version"))
    form = PlaylistForm(request.POST, playlist=playlist)
    if version is None:
        return _refused(model_admin, request, playlist_id, NO_VERSION_NOTE, 400, form=form)
    if playlist["version"] != version:
        return _refused(model_admin, request, playlist_id, _conflict_note(version, playlist["version"]), 409,
                        form=form, form_version=version)
    if not form.is_valid():
        return _refused(model_admin, request, playlist_id, "Please correct the errors below: nothing was saved.",
                        400, form=form, form_version=version)
    page, search = _state(request)
    next_url = _change_url(playlist_id, page, search) if "_continue" in request.POST else _url("playlist_changelist")
    if not form.values:
        messages.info(request, f"No field of the playlist {playlist_label(playlist)} was changed.")
        return HttpResponseRedirect(next_url)
    updated, refused = _write(
        model_admin, request, playlist_id, version=version, form=form, form_version=version,
        write=lambda: store.playlist_update(playlist_id=playlist_id, values=form.values, expected_version=version))
    if refused is not None:
        return refused
    changed = sorted(form.values)
    model_admin.log_change(request, Playlist.stand_in(updated), [{"changed": {"fields": changed}}])
    messages.success(request, f"The playlist {playlist_label(updated)} was changed successfully "
                              f"({', '.join(changed)}; now version {updated['version']}).")
    return HttpResponseRedirect(next_url)


# --- change: the entries ---------------------------------------------------------------------
def _entry_write(model_admin, request, object_id: str):
    """The common start of the entries' forms: (playlist id, version, None), or (.., .., the
    answer refusing the request)."""
    playlist_id = playlist_id_or_404(object_id)
    if request.method != "POST":
        return playlist_id, None, HttpResponseNotAllowed(["POST"])
    playlist = _permitted_playlist(playlist_id, model_admin.has_change_permission(request))
    if playlist is None:
        return playlist_id, None, _gone(request, playlist_id)
    version = parse_version(request.POST.get("version"))
    if version is None:
        return playlist_id, None, _refused(model_admin, request, playlist_id, NO_VERSION_NOTE, 400)
    return playlist_id, version, None


def _after_entry_write(request, playlist_id: str):
    page, search = _state(request)
    return HttpResponseRedirect(_change_url(playlist_id, page, search))


def _entry_at(playlist_id: str, position: int | None, entry_id: str) -> dict | None:
    """The entry `entry_id` if it is at `position` (for the messages), else None."""
    if position is None:
        return None
    found = store.entries_page(playlist_id=playlist_id, offset=position, limit=1)
    if found and found[1] and found[1][0]["entry"] == entry_id:
        return found[1][0]
    return None


def _entry_id(text) -> str | None:
    try:
        return str(uuid.UUID(text)) if isinstance(text, str) and len(text) <= 64 else None
    except ValueError:
        return None


def entry_remove(model_admin, request, object_id: str):
    playlist_id, version, refused = _entry_write(model_admin, request, object_id)
    if refused is not None:
        return refused
    entry_id = _entry_id(request.POST.get("entry"))
    if entry_id is None:
        return _refused(model_admin, request, playlist_id, "No entry was named: nothing was removed.", 400)
    try:
        position = parse_position(request.POST.get("position"), required=False)
    except ValueError:
        position = None
    entry = _entry_at(playlist_id, position, entry_id)
    updated, refused = _write(
        model_admin, request, playlist_id, version=version,
        write=lambda: store.entries_remove(playlist_id=playlist_id, entry_ids=[entry_id], expected_version=version))
    if refused is not None:
        return refused
    what = f"{_track_label(entry['track'])} (position {entry['position']})" if entry else "The entry"
    model_admin.log_change(request, Playlist.stand_in(updated), f"Removed entry {entry_id}.")
    messages.success(request, f"{what} was removed from the playlist (now version {updated['version']}).")
    return _after_entry_write(request, playlist_id)


def entry_move(model_admin, request, object_id: str):
    playlist_id, version, refused = _entry_write(model_admin, request, object_id)
    if refused is not None:
        return refused
    entry_id = _entry_id(request.POST.get("entry"))
    try:
        source = parse_position(request.POST.get("position"))
        target = parse_position(request.POST.get("to"))
    except ValueError as exc:
        return _refused(model_admin, request, playlist_id, f"{exc} Nothing was moved.", 400)
    entry = _entry_at(playlist_id, source, entry_id) if entry_id else None
    playlist = store.playlist_get(playlist_id=playlist_id)
    if playlist is None:
        return _gone(request, playlist_id)
    if playlist["version"] != version:  # the positions of the form are those of its version
        return _refused(model_admin, request, playlist_id, _conflict_note(version, playlist["version"]), 409)
    if entry is None:
        return _refused(model_admin, request, playlist_id,
                        "That entry is not at that position in the playlist: nothing was moved.", 400)
    target = min(target, playlist["tracks"] - 1)
    if target == source:
        messages.info(request, f"{_track_label(entry['track'])} is already at position {source}.")
        return _after_entry_write(request, playlist_id)
    before = target if target < source else target + 1
    updated, refused = _write(
        model_admin, request, playlist_id, version=version,
        write=lambda: store.entries_reorder(playlist_id=playlist_id, range_start=source, range_length=1,
                                            insert_before=before, expected_version=version))
    if refused is not None:
        return refused
    model_admin.log_change(request, Playlist.stand_in(updated), f"Moved entry {entry_id} from {source} to {target}.")
    messages.success(request, f"{_track_label(entry['track'])} moved from position {source} to {target} "
                              f"(now version {updated['version']}).")
    return _after_entry_write(request, playlist_id)


def entry_add(model_admin, request, object_id: str):
    playlist_id, version, refused = _entry_write(model_admin, request, object_id)
    if refused is not None:
        return refused
    track_id = _entry_id(request.POST.get("track"))
    if track_id is None:
        return _refused(model_admin, request, playlist_id, "No track was named: nothing was added.", 400)
    try:
        position = parse_position(request.POST.get("to"), required=False)
    except ValueError as exc:
        return _refused(model_admin, request, playlist_id, f"{exc} Nothing was added.", 400)
    written, refused = _write(
        model_admin, request, playlist_id, version=version,
        write=lambda: store.entries_add(playlist_id=playlist_id, track_ids=[track_id], position=position,
                                        expected_version=version))
    if refused is not None:
        return refused
    new_version, (entry,) = written
    playlist = store.playlist_get(playlist_id=playlist_id) or {"id": playlist_id, "name": "", "owner": ""}
    model_admin.log_change(request, Playlist.stand_in(playlist), f"Added track {track_id} at {entry['position']}.")
    messages.success(request, f"{_track_label(entry['track'])} was added at position {entry['position']} "
                              f"(now version {new_version}).")
    return _after_entry_write(request, playlist_id)


# --- delete ----------------------------------------------------------------------------------
def playlist_delete(model_admin, request, object_id: str):
    playlist_id = playlist_id_or_404(object_id)
    playlist = _permitted_playlist(playlist_id, model_admin.has_delete_permission(request))
    if playlist is None:
        return _gone(request, playlist_id)
    errornote, status = None, 200
    if request.method == "POST":
        version = parse_version(request.POST.get("version"))
        if version is None:
            errornote, status = "The form is missing the version it was loaded at: look again.", 400
        else:
            try:
                store.playlist_delete(playlist_id=playlist_id, expected_version=version)
            except store.VersionMismatch as exc:
                errornote, status = (
                    f"This playlist was changed after you opened this page (you saw version {version}; "
                    f"it is now version {exc.current}). It was not deleted: check it below and confirm again.",
                    409)
            except store.LockTimeout:
                errornote, status = BUSY_NOTE, 503
            except store.PlaylistNotFound:
                return _gone(request, playlist_id)
            else:
                model_admin.log_deletions(request, [Playlist.stand_in(playlist)])
                messages.success(request, f"The playlist {playlist_label(playlist)} was deleted "
                                          f"(its tracks stay in the library).")
                return HttpResponseRedirect(_url("playlist_changelist"))
        playlist = store.playlist_get(playlist_id=playlist_id) or playlist
    context = _context(model_admin, request, title="Are you sure?", subtitle=None, playlist=playlist,
                       duration_text=hms(playlist["duration"]), errornote=errornote,
                       change_url=_url("playlist_change", quote(playlist_id)))
    return TemplateResponse(request, "admin/playlist/delete_confirmation.html", context, status=status)
