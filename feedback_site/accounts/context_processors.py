from .roles import Role, user_has_role


def roles(request):
    user = request.user
    return {
        "is_annotator": user_has_role(user, Role.ANNOTATOR),
        "is_ml_engineer": user_has_role(user, Role.ML_ENGINEER),
        "is_governance": user_has_role(user, Role.GOVERNANCE),
    }
