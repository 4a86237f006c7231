"""The admin's "Playlist" pages, built on the track store and the YouTube list in Redis.

There is no ORM table of tracks: tracks/admin.py routes the admin URLs of the unmanaged
stand-in models here. Every read and write goes through tracks.store / tracks.youtube (the
same locks, versions and invalidation as the API) and every input is validated by the API's
serializers (tracks/forms.py). Conflicts: a change form carries the version it was loaded
at, and saving over a newer version shows an error instead of overwriting.
"""

import uuid

from django.contrib import messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from quantumlive.musical_keys import camelot
from tracks import store, youtube
from tracks.admin_pagination import PAGE_PARAM, PER_PAGE, BadPage, first_row, page_navigation, requested_page
from tracks.forms import MoveForm, TrackAddForm, TrackForm, YouTubeAddForm, parse_version
from tracks.models import Track
from tracks.serializers import TrackFilterSerializer, matcher
from tracks.sparkline import sparkline_svg

FILTERS = ("q", "genre", "bpm_min", "bpm_max", "key")
# Quick BPM ranges for the filter sidebar (inclusive bounds, as the API's bpm_min/bpm_max).
BPM_RANGES = (
    ("under 100", None, "99.99"),
    ("100 – 119", "100", "119.99"),
    ("120 – 129", "120", "129.99"),
    ("130 – 149", "130", "149.99"),
    ("150 and over", "150", None),
)
ACTION_DELETE = "delete_selected"


# --- helpers ---------------------------------------------------------------------------------
def track_id_or_404(object_id: str) -> str:
    """The track id of an admin URL, canonical; Http404 when it is not a UUID."""
    try:
        return str(uuid.UUID(object_id))
    except ValueError:
        raise Http404("No track with this id.") from None


def _url(name: str, *args) -> str:
    return reverse(f"admin:tracks_{name}", args=args)


def _context(model_admin, request, **extra) -> dict:
    opts = model_admin.model._meta
    return {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "app_label": opts.app_label,
        "module_name": str(opts.verbose_name_plural).capitalize(),
        "has_view_permission": model_admin.has_view_permission(request),
        "has_add_permission": model_admin.has_add_permission(request),
        "has_change_permission": model_admin.has_change_permission(request),
        "has_delete_permission": model_admin.has_delete_permission(request),
        **extra,
    }


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _permitted_track(track_id: str, allowed: bool) -> dict | None:
    """The track (None when it is gone) for a user `allowed` to see it; else PermissionDenied."""
    _require(allowed)
    return store.track_get(track_id=track_id)


def _gone(request, model_admin, track_id: str):
    messages.warning(request, f"There is no track with id “{track_id}”. Perhaps it was deleted?")
    return HttpResponseRedirect(_url("track_changelist"))


def track_label(track: dict) -> str:
    return f"“{track['title']}” by {track['artist']}"


def _cue_rows(track: dict) -> list[dict]:
    return [
        {"index": index, "name": cue["name"], "start": cue["start"], "end": cue["end"],
         "length": cue["end"] - cue["start"], "points": len(cue.get("waveform", [])),
         "svg": sparkline_svg(cue.get("waveform", []))}
        for index, cue in enumerate(track["cues"])
    ]


def _row(summary: dict) -> dict:
    return {
        **summary,
        "camelot": camelot(summary["key"]) if summary["key"] else None,
        "genres_text": ", ".join(summary["genres"]),
        "cue_count": len(summary["cues"]),
        "updated_text": summary["updated"].replace("T", " ").rstrip("Z")[:19],
        "change_url": _url("track_change", quote(summary["id"])),
    }


def _query(params: dict, **changes) -> str:
    merged = {k: v for k, v in params.items() if v not in ("", None)}
    for name, value in changes.items():
        if value in ("", None):
            merged.pop(name, None)
        else:
            merged[name] = value
    return "?" + urlencode(merged) if merged else "?"


# --- tracks: list, search, filters, bulk delete ----------------------------------------------
def track_changelist(model_admin, request):
    _require(model_admin.has_view_or_change_permission(request))
    if request.method == "POST":
        return _track_action(model_admin, request)

    try:
        page_number = requested_page(request)
    except BadPage as exc:
        return _bad_request(model_admin, request, str(exc))
    params = {name: request.GET[name] for name in FILTERS if request.GET.get(name, "") != ""}
    errors: list[str] = []
    body = TrackFilterSerializer(data={**params, "offset": first_row(page_number), "limit": PER_PAGE})
    count, page, total = 0, [], None
    if body.is_valid():
        filters = body.validated_data
        match = matcher(filters)
        count, page = store.track_list(offset=filters["offset"], limit=PER_PAGE, match=match)
        total = count if match is None else store.track_list(offset=0, limit=0)[0]
    else:
        page_number = 1
        for name, value in body.errors.items():
            for line in value if isinstance(value, list) else [value]:
                errors.append(f"{name}: {line}" if name != "non_field_errors" else str(line))
    navigation = page_navigation(number=page_number, count=count,
                                 url_of=lambda number: _query(params, p=None if number == 1 else number))
    ranges = [
        {"label": label, "url": _query(params, bpm_min=low, bpm_max=high, p=None),
         "selected": params.get("bpm_min") == low and params.get("bpm_max") == high}
        for label, low, high in BPM_RANGES
    ]
    context = _context(
        model_admin, request,
        title="Tracks", subtitle=None,
        rows=[_row(summary) for summary in page],
        count=count, total=total, params=params, errors=errors, **navigation,
        bpm_ranges=ranges, any_filter=bool(params), clear_url="?",
        genre_filter_cleared=_query(params, genre=None, p=None),
        bpm_filter_cleared=_query(params, bpm_min=None, bpm_max=None, p=None),
        actions=[(ACTION_DELETE, "Delete selected tracks")] if model_admin.has_delete_permission(request) else [],
    )
    return TemplateResponse(request, "admin/tracks/track/change_list.html", context,
                            status=400 if errors else 200)


def _track_action(model_admin, request):
    action = request.POST.get("action", "")
    selected = request.POST.getlist("_selected_action")
    back = request.get_full_path()
    if action == "":
        messages.warning(request, "No action selected.")
        return HttpResponseRedirect(back)
    if action != ACTION_DELETE:
        return _bad_request(model_admin, request, f"Unknown action “{action}”.")
    _require(model_admin.has_delete_permission(request))
    if not selected:
        messages.warning(request, "Items must be selected in order to perform actions on them. "
                                  "No items have been changed.")
        return HttpResponseRedirect(back)
    try:
        ids = list(dict.fromkeys(str(uuid.UUID(value)) for value in selected))
    except ValueError:
        return _bad_request(model_admin, request, "A selected track id is not a valid id.")

    if request.POST.get("post") != "yes":
        tracks = [t for t in (store.track_get(track_id=track_id) for track_id in ids) if t is not None]
        context = _context(model_admin, request, title="Are you sure?", subtitle=None,
                           tracks=tracks, action=ACTION_DELETE, back=back)
        return TemplateResponse(request, "admin/tracks/track/delete_selected_confirmation.html", context)

    deleted, busy = [], 0
    for track_id in ids:
        track = store.track_get(track_id=track_id)
        if track is None:
            continue
        try:
            store.track_delete(track_id=track_id)
        except store.TrackNotFound:
            continue
        except store.LockTimeout:
            busy += 1
            continue
        deleted.append(track)
    if deleted:
        model_admin.log_deletions(request, [Track.stand_in(t) for t in deleted])
        messages.success(request, f"Successfully deleted {len(deleted)} track{'s' if len(deleted) != 1 else ''}.")
    else:
        messages.warning(request, "No track was deleted: the selected tracks are gone already.")
    if busy:
        messages.error(request, f"{busy} track{'s were' if busy != 1 else ' was'} busy and not deleted; try again.")
    return HttpResponseRedirect(back)


def _bad_request(model_admin, request, message: str, status: int = 400):
    context = _context(model_admin, request, title="Bad request", subtitle=None, message=message)
    return TemplateResponse(request, "admin/tracks/bad_request.html", context, status=status)


# --- tracks: change, move, add, delete -------------------------------------------------------
def _render_change(model_admin, request, track: dict, *, form=None, move_form=None, version=None,
                   errornote: str | None = None, status: int = 200):
    form = form if form is not None else TrackForm(track=track)
    context = _context(
        model_admin, request,
        title="Change track", subtitle=track_label(track),
        track=track, form=form, move_form=move_form if move_form is not None else MoveForm(),
        version=version if version is not None else track["version"],
        camelot=camelot(track["key"]) if track["key"] else None,
        cue_rows=_cue_rows(track), errornote=errornote,
        can_change=model_admin.has_change_permission(request),
        can_delete=model_admin.has_delete_permission(request),
        delete_url=_url("track_delete", quote(track["id"])),
        move_url=_url("track_move", quote(track["id"])),
        history_url=_url("track_history", quote(track["id"])),
    )
    return TemplateResponse(request, "admin/tracks/track/change_form.html", context, status=status)


def _conflict_note(loaded: int, current: int | None) -> str:
    return (
        f"This track was changed by someone else after you opened it (you loaded version {loaded}; "
        f"it is now version {current}). Nothing was saved: reload the page to see the current "
        f"values, then make your change again."
    )


BUSY_NOTE = "The track is busy (another write holds its lock). Nothing was saved: try again."


def _versioned_write(model_admin, request, track: dict, write, *, version: int, **forms):
    """Runs a store write conditioned on `version`: (its result, None), or (None, the answer
    that says why it was refused — the change page again, or the list when the track is gone)."""
    try:
        return write(), None
    except store.VersionMismatch as exc:
        return None, _render_change(model_admin, request, track, version=version, status=409,
                                    errornote=_conflict_note(version, exc.current), **forms)
    except store.LockTimeout:
        return None, _render_change(model_admin, request, track, version=version, status=503,
                                    errornote=BUSY_NOTE, **forms)
    except store.TrackNotFound:
        return None, _gone(request, model_admin, track["id"])


def track_change(model_admin, request, object_id: str):
    track_id = track_id_or_404(object_id)
    track = _permitted_track(track_id, model_admin.has_view_or_change_permission(request))
    if track is None:
        return _gone(request, model_admin, track_id)
    if request.method != "POST":
        return _render_change(model_admin, request, track)

    _require(model_admin.has_change_permission(request))
    version = parse_version(request.POST.get("version"))
    if version is None:
        return _render_change(model_admin, request, track, form=TrackForm(request.POST, track=track),
                              errornote="The form is missing the version it was loaded at: reload the page.",
                              status=400)
    form = TrackForm(request.POST, track=track)
    if track["version"] != version:
        return _render_change(model_admin, request, track, form=form, version=version,
                              errornote=_conflict_note(version, track["version"]), status=409)
    if not form.is_valid():
        return _render_change(model_admin, request, track, form=form, version=version,
                              errornote="Please correct the errors below: nothing was saved.", status=400)
    next_url = _url("track_change", quote(track_id)) if "_continue" in request.POST else _url("track_changelist")
    if not form.values:
        messages.info(request, f"No field of the track {track_label(track)} was changed.")
        return HttpResponseRedirect(next_url)
    updated, refused = _versioned_write(
        model_admin, request, track, version=version, form=form,
        write=lambda: store.track_update(track_id=track_id, values=form.values, expected_version=version))
    if refused is not None:
        return refused
    changed = sorted(form.values)
    model_admin.log_change(request, Track.stand_in(updated), [{"changed": {"fields": changed}}])
    messages.success(request, f"The track {track_label(updated)} was changed successfully "
                              f"({', '.join(changed)}; now version {updated['version']}).")
    return HttpResponseRedirect(next_url)


def track_move(model_admin, request, object_id: str):
    track_id = track_id_or_404(object_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    track = _permitted_track(track_id, model_admin.has_change_permission(request))
    if track is None:
        return _gone(request, model_admin, track_id)
    version = parse_version(request.POST.get("version"))
    move_form = MoveForm(request.POST)
    if version is None:
        return _render_change(model_admin, request, track, move_form=move_form, status=400,
                              errornote="The form is missing the version it was loaded at: reload the page.")
    if not move_form.is_valid():
        return _render_change(model_admin, request, track, move_form=move_form, version=version, status=400,
                              errornote="Please correct the position: the track was not moved.")
    moved, refused = _versioned_write(
        model_admin, request, track, version=version, move_form=move_form,
        write=lambda: store.track_move(track_id=track_id, position=move_form.position, expected_version=version))
    if refused is not None:
        return refused
    model_admin.log_change(request, Track.stand_in(moved), f"Moved to position {moved['position']}.")
    messages.success(request, f"The track {track_label(moved)} is now at position {moved['position']}.")
    return HttpResponseRedirect(_url("track_change", quote(track_id)))


def track_add(model_admin, request):
    _require(model_admin.has_add_permission(request))
    form = TrackAddForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            track = store.track_create(values=form.values, position=form.position)
            model_admin.log_addition(request, Track.stand_in(track), [{"added": {}}])
            messages.success(request, f"The track {track_label(track)} was added at position {track['position']}.")
            if "_continue" in request.POST:
                return HttpResponseRedirect(_url("track_change", quote(track["id"])))
            if "_addanother" in request.POST:
                return HttpResponseRedirect(_url("track_add"))
            return HttpResponseRedirect(_url("track_changelist"))
        status = 400
    context = _context(model_admin, request, title="Add track", subtitle=None, form=form,
                       errornote="Please correct the errors below: nothing was saved." if status == 400 else None)
    return TemplateResponse(request, "admin/tracks/track/add_form.html", context, status=status)


def track_delete(model_admin, request, object_id: str):
    track_id = track_id_or_404(object_id)
    track = _permitted_track(track_id, model_admin.has_delete_permission(request))
    if track is None:
        return _gone(request, model_admin, track_id)
    errornote, status = None, 200
    if request.method == "POST":
        version = parse_version(request.POST.get("version"))
        if version is None:
            errornote, status = "The form is missing the version it was loaded at: look again.", 400
        else:
            try:
                store.track_delete(track_id=track_id, expected_version=version)
            except store.VersionMismatch as exc:
                errornote, status = (
                    f"This track was changed after you opened this page (you saw version {version}; "
                    f"it is now version {exc.current}). It was not deleted: check it below and "
                    f"confirm again.", 409)
            except store.LockTimeout:
                errornote, status = BUSY_NOTE, 503
            except store.TrackNotFound:
                return _gone(request, model_admin, track_id)
            else:
                model_admin.log_deletions(request, [Track.stand_in(track)])
                messages.success(request, f"The track {track_label(track)} was deleted.")
                return HttpResponseRedirect(_url("track_changelist"))
        track = store.track_get(track_id=track_id) or track
    context = _context(model_admin, request, title="Are you sure?", subtitle=None, track=track,
                       errornote=errornote, change_url=_url("track_change", quote(track_id)))
    return TemplateResponse(request, "admin/tracks/track/delete_confirmation.html", context, status=status)


# --- the YouTube list ------------------------------------------------------------------------
def youtube_changelist(model_admin, request, *, form=None, status: int = 200):
    _require(model_admin.has_view_or_change_permission(request))
    try:
        page_number = requested_page(request)
    except BadPage as exc:
        return _bad_request(model_admin, request, str(exc))
    items = youtube.youtube_list()
    navigation = page_navigation(number=page_number, count=len(items),
                                 url_of=lambda number: f"?{PAGE_PARAM}={number}" if number > 1 else "?")
    seen: set[str] = set()
    first_index = {}
    for index, item in enumerate(items):
        if item["video_id"] not in seen:
            seen.add(item["video_id"])
            first_index[item["video_id"]] = index
    offset = first_row(page_number)
    rows = [
        {**item, "index": offset + i, "repeat": first_index[item["video_id"]] != offset + i,
         "delete_url": _url("youtubelink_delete", item["video_id"])}
        for i, item in enumerate(items[offset:offset + PER_PAGE])
    ]
    context = _context(
        model_admin, request, title="YouTube links", subtitle=None,
        rows=rows, count=len(items), unique=len(seen), repeats=len(items) - len(seen),
        form=form or YouTubeAddForm(), **navigation,
        add_url=_url("youtubelink_add"), compact_url=_url("youtubelink_compact"),
    )
    return TemplateResponse(request, "admin/tracks/youtubelink/change_list.html", context, status=status)


def youtube_add(model_admin, request):
    _require(model_admin.has_add_permission(request))
    if request.method != "POST":
        context = _context(model_admin, request, title="Add YouTube link", subtitle=None, form=YouTubeAddForm())
        return TemplateResponse(request, "admin/tracks/youtubelink/add_form.html", context)
    form = YouTubeAddForm(request.POST)
    if not form.is_valid():
        return youtube_changelist(model_admin, request, form=form, status=400)
    item, created = youtube.youtube_add(video_id=form.video_id)
    if created:
        model_admin.log_addition(request, model_admin.model(video_id=item["video_id"]), [{"added": {}}])
        messages.success(request, f"Added {item['url']}.")
    else:
        messages.info(request, f"{item['url']} is already in the list (added {item['added']}).")
    return HttpResponseRedirect(_url("youtubelink_changelist"))


def youtube_delete(model_admin, request, video_id: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(model_admin.has_delete_permission(request))
    if not youtube.is_video_id(video_id):
        raise Http404("Not a YouTube video id.")
    if youtube.youtube_delete(video_id=video_id):
        model_admin.log_deletions(request, [model_admin.model(video_id=video_id)])
        messages.success(request, f"Removed {youtube.canonical_url(video_id)} from the list.")
    else:
        messages.warning(request, f"{video_id} was not in the list.")
    return HttpResponseRedirect(_url("youtubelink_changelist"))


def youtube_compact(model_admin, request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(model_admin.has_delete_permission(request))
    removed = youtube.youtube_compact()
    if removed:
        messages.success(request, f"Removed {removed} repeated entr{'ies' if removed != 1 else 'y'} "
                                  f"(the first of each was kept).")
    else:
        messages.info(request, "The list has no repeated entries.")
    return HttpResponseRedirect(_url("youtubelink_changelist"))

