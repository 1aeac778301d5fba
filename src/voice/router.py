"""The voice sub-domains' routers, in the order they are matched (busiest first).

`src/api.py` includes each one directly under /voice rather than through a parent
router: FastAPI matches included routers level by level, so a level of nesting
would be paid for on every request.
"""

from fastapi import APIRouter

from src.voice.catalog.router import router as catalog_router
from src.voice.orders.router import router as orders_router
from src.voice.recommend.router import router as recommend_router
from src.voice.sessions.router import router as sessions_router
from src.voice.speech.router import router as speech_router

routers: tuple[APIRouter, ...] = (
    catalog_router,
    orders_router,
    sessions_router,
    speech_router,
    recommend_router,
)
