"""Recommendation dependencies: this app's recommendation caches."""

from typing import Annotated

from fastapi import Depends, Request

from src.voice.recommend.service import RecommendCaches


async def recommend_caches(request: Request) -> RecommendCaches:
    """This app's recommendation caches (made by the voice lifespan)."""
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
    caches: RecommendCaches = request.state.recommend_caches
    return caches


RecommendCachesDep = Annotated[RecommendCaches, Depends(recommend_caches)]
