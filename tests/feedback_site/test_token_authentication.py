"""The judging endpoints' token authentication fails closed: a token nobody has checked is no user, and
only a view that declares that its services check the token in SQL receives one. A view that uses the
same authentication without that declaration gets the token checked, on every database."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from feedback_site.accounts.authentication import JudgingTokenAuthentication, UncheckedToken
from feedback_site.accounts.permissions import api_role, api_role_or_token_checked_in_sql
from feedback_site.accounts.roles import Role, user_has_role

FORGED = "0" * 40


class WhoAmI(APIView):
    """A new view that takes the judging authentication and checks nothing in SQL."""

    authentication_classes = [JudgingTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"username": request.user.username, "authenticated": request.user.is_authenticated})


class WhoAmIWithTheJudgingPermission(WhoAmI):
    permission_classes = [api_role_or_token_checked_in_sql(Role.ANNOTATOR)]


class ChecksInSql(WhoAmIWithTheJudgingPermission):
    checks_token_in_sql = True


def call(view, token: str):
    request = APIRequestFactory().get("/who/", HTTP_AUTHORIZATION=f"Token {token}")
    return view.as_view()(request)


@pytest.mark.parametrize("view", [WhoAmI, WhoAmIWithTheJudgingPermission])
def test_a_view_without_the_sql_check_refuses_a_bad_token_and_serves_a_good_one(view, make_annotator, engineer):
    annotator, quitter = make_annotator("a"), make_annotator("quitter")
    quitter_token = Token.objects.create(user=quitter).key
    type(quitter).objects.filter(pk=quitter.pk).update(is_active=False)
    for token in (FORGED, quitter_token):
        refused = call(view, token)
        assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Token", token
    served = call(view, Token.objects.create(user=annotator).key)
    assert served.status_code == 200 and served.data == {"username": "a", "authenticated": True}
    other_role = call(view, Token.objects.create(user=engineer).key)
    assert other_role.status_code == (200 if view is WhoAmI else 403)  # the role is checked where asked for


def test_only_a_view_that_declares_the_sql_check_receives_an_unchecked_token(make_annotator):
    answer = call(ChecksInSql, FORGED)
    if connection.vendor == "postgresql":  # passed on for the view's service to check in its own round trip
        assert answer.status_code == 200 and answer.data == {"username": "", "authenticated": False}
    else:  # checked here, as everywhere else
        assert answer.status_code == 401


def test_an_unchecked_token_passes_no_check_that_asks_for_a_user(rf):
    bearer = UncheckedToken(FORGED)
    assert isinstance(bearer, AnonymousUser) and not bearer.is_authenticated and bearer.pk is None
    assert not any(user_has_role(bearer, role) for role in Role)
    request = rf.get("/")
    request.user = bearer
    assert not IsAuthenticated().has_permission(request, WhoAmI())
    assert not api_role(Role.ANNOTATOR)().has_permission(request, WhoAmI())
    assert not api_role_or_token_checked_in_sql(Role.ANNOTATOR)().has_permission(request, WhoAmI())
    assert api_role_or_token_checked_in_sql(Role.ANNOTATOR)().has_permission(request, ChecksInSql())
    assert FORGED not in repr(bearer)
