from feedback_site.quality.charts import line_chart_svg


def loss_chart_svg(history: list) -> str:
    """The loss curve of a job, scaled to its own range (losses are not bounded like alpha)."""
    values = [loss for _, loss in history]
    if not values:
        return line_chart_svg([], label="training loss")
    top = max(values) * 1.05 or 1.0
    return line_chart_svg([(f"step {s}", v) for s, v in history], y_min=0.0, y_max=top, label="training loss")
