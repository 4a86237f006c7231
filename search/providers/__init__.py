"""The search providers, one module per service, all with the interface of base.Provider."""

from search.providers.itunes import ITunes
from search.providers.soundcloud import SoundCloud
from search.providers.youtube import YouTube

PROVIDERS = {provider.name: provider for provider in (ITunes(), SoundCloud(), YouTube())}
SERVICE_NAMES = tuple(PROVIDERS)
