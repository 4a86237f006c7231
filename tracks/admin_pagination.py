"""The pages of the admin's lists (tracks, YouTube links): which page a request asks for
(`?p=`, 1 when absent), and the links between pages.

Bad pages are answered alike on every list, as Django's Paginator tells them apart: a `p`
that is not a whole number from 1 up is :class:`BadPage` (the view answers 400 with its
message), a page past the last is 404. The first page of an empty list exists.
"""

import re
from collections.abc import Callable

from django.core.paginator import Paginator
from django.http import Http404

PAGE_PARAM = "p"
PER_PAGE = 100
_PAGE_NUMBER = re.compile(r"[0-9]{1,9}")


class BadPage(ValueError):
    """The page asked for is not a page number."""

    def __init__(self):
        super().__init__(f"{PAGE_PARAM}: Enter a page number (1, 2, …).")


def requested_page(request) -> int:
    """The page number the request asks for; BadPage when it is not one."""
    raw = request.GET.get(PAGE_PARAM, "1")
    if not _PAGE_NUMBER.fullmatch(raw) or int(raw) < 1:
        raise BadPage()
    return int(raw)


def first_row(number: int) -> int:
    """The index of the first row on page `number`."""
    return (number - 1) * PER_PAGE


def page_navigation(*, number: int, count: int, url_of: Callable[[int], str]) -> dict:
    """The links of page `number` of a list of `count` rows, as the lists' templates take them
    (`page_links`, `page_number`, `num_pages`, `previous_url`, `next_url`); `url_of(n)` is the
    URL of page n. Http404 when the page is past the last."""
    paginator = Paginator(_Counted(count), PER_PAGE)
    if number > paginator.num_pages:
        raise Http404(f"There is no page {number}: {count} rows.")
    page_links = [
        {"number": item, "ellipsis": item == paginator.ELLIPSIS, "current": item == number,
         "url": url_of(item) if item != paginator.ELLIPSIS else ""}
        for item in paginator.get_elided_page_range(number, on_each_side=2, on_ends=1)
    ] if paginator.num_pages > 1 else []
    return {
        "page_links": page_links, "page_number": number, "num_pages": paginator.num_pages,
        "previous_url": url_of(number - 1) if number > 1 else None,
        "next_url": url_of(number + 1) if number < paginator.num_pages else None,
    }


class _Counted:
    """Lets Django's Paginator compute page ranges from a count alone."""

    def __init__(self, count: int):
        self.count_ = count

    def __len__(self):
        return self.count_
