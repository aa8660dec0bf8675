"""Console page "Configs" (placeholder replaced below)."""
from flask import Blueprint
bp = Blueprint("configs", __name__, url_prefix="/configs")


@bp.get("/")
def index():
    return "configs"
