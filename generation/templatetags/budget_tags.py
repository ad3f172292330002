"""`{% budget_left cost %}`: what a run costs against what the budget leaves, on every
confirm page (runs, caption runs, reference sets, trainings)."""

from django import template

from generation import budgets

register = template.Library()


@register.inclusion_tag("generation/_budget_left.html", takes_context=True)
def budget_left(context, cost):
    user = context["request"].user
    room = budgets.headroom(user=user)
    left = room.left
    over_cap = room.per_run_cap is not None and cost > room.per_run_cap
    return {
        "cost": cost,
        "left": left,
        "room": room,
        "over_cap": over_cap,
        "over": over_cap or (left is not None and cost > left),
        "needs_approval": budgets.needs_approval(cost=cost, user=user, room=room),
    }
