"""Recommendation dependencies: this app's recommendation caches."""

from typing import Annotated

from fastapi import Depends, Request

from src.voice.recommend.service import RecommendCaches


def recommend_caches(request: Request) -> RecommendCaches:
    """This app's recommendation caches (made by the voice lifespan)."""
    caches: RecommendCaches = request.state.recommend_caches
    return caches


RecommendCachesDep = Annotated[RecommendCaches, Depends(recommend_caches)]
