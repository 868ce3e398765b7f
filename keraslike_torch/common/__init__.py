"""Torch plumbing shared by every module below the public API: config recording and lazy
builds (:mod:`.config`), tracing/compile detection (:mod:`.tracing`), autocast (:mod:`.precision`)
and forward signatures named after a model's inputs (:mod:`.signature`). Imports nothing else
from the package."""
