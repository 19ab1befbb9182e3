import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation import services
from feedback_site.annotation.models import Comparison, Judgment, Prompt

from .conftest import jsonl, judge, own_rows


def api_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def governance(db):
    return user_create(username="gov", password="pw-gov-123", roles=[Role.GOVERNANCE])


def test_pages_refuse_the_wrong_role_with_403(client, datanet_with, make_annotator, engineer, governance):
    annotator = make_annotator("a")
    datanet = datanet_with(n=1, annotators=[annotator])
    client.force_login(annotator)
    assert client.get(reverse("datanet_create")).status_code == 403
    assert client.post(reverse("snapshot_create", args=[datanet.slug])).status_code == 403
    assert client.post(reverse("datanet_import", args=[datanet.slug])).status_code == 403
    client.force_login(engineer)  # an engineer is not an annotator: no judging page
    assert client.get(reverse("judge", args=[datanet.slug])).status_code == 403
    client.force_login(governance)
    assert client.get(reverse("judge_next", args=[datanet.slug])).status_code == 403
    client.logout()
    assert client.get(reverse("home")).status_code == 302  # to the login page


def test_annotator_cannot_see_a_datanet_they_are_not_in(client, datanet_with, make_annotator):
    outsider = make_annotator("outsider")
    datanet = datanet_with(n=1)
    client.force_login(outsider)
    assert client.get(reverse("datanet_detail", args=[datanet.slug])).status_code == 403


def test_judging_flow_over_htmx_partials(client, datanet_with, make_annotator):
    annotator = make_annotator("a")
    datanet = datanet_with(n=2, annotators=[annotator], overlap=1)
    client.force_login(annotator)
    page = client.get(reverse("judge", args=[datanet.slug]))
    assert page.status_code == 200 and b"hx-get" in page.content
    panel = client.get(reverse("judge_next", args=[datanet.slug]))
    assignment_id = panel.context["assignment"].id
    key = panel.context["idempotency_key"]
    payload = {"choice": "B", "strength": "3", "time_spent_ms": "2345", "idempotency_key": key, "rationale": "clearer"}
    after = client.post(reverse("judge_submit", args=[datanet.slug, assignment_id]), payload)
    assert after.status_code == 200 and b"Saved." in after.content
    judgment = Judgment.objects.get()
    assert (judgment.choice_as_shown, judgment.strength, judgment.time_spent_ms, judgment.rationale) == ("B", 3, 2345, "clearer")
    again = client.post(reverse("judge_submit", args=[datanet.slug, assignment_id]), payload)
    assert again.status_code == 409 and Judgment.objects.count() == 1
    revise_form = client.get(reverse("judge_revise", args=[datanet.slug]))
    assert revise_form.context["form_choice"] == "B"
    client.post(reverse("judge_revise", args=[datanet.slug]), {**payload, "choice": "A", "idempotency_key": "rev-1"})
    assert Judgment.objects.count() == 2 and Judgment.objects.last().revision_of_id == judgment.id


def test_upload_in_the_browser_reports_every_problem(client, datanet_with, engineer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    datanet = datanet_with(n=0)
    client.force_login(engineer)
    bad = SimpleUploadedFile("bad.jsonl", b'{"prompt": "x", "responses": ["a"]}\nnot json\n')
    response = client.post(reverse("datanet_import", args=[datanet.slug]), {"file": bad})
    assert response.status_code == 400
    assert b"bad.jsonl" in response.content and b"two or more responses" in response.content and b"invalid JSON" in response.content
    good = SimpleUploadedFile("good.jsonl", jsonl(own_rows(3)).getvalue())
    response = client.post(reverse("datanet_import", args=[datanet.slug]), {"file": good}, follow=True)
    assert b"3 prompts, 3 comparisons" in response.content


def test_upload_in_the_browser_can_skip_invalid_lines_and_lists_them(client, datanet_with, engineer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    datanet = datanet_with(n=0)
    client.force_login(engineer)
    mixed = jsonl(own_rows(2)).getvalue() + b'{"prompt": "x", "responses": ["a"]}\n'
    response = client.post(reverse("datanet_import", args=[datanet.slug]),
                           {"file": SimpleUploadedFile("mixed.jsonl", mixed), "skip_invalid": "on"}, follow=True)
    assert b"2 prompts, 2 comparisons" in response.content and b"1 invalid line(s) were left out" in response.content
    assert b"line 3, responses: a prompt needs two or more responses" in response.content
    assert Prompt.objects.count() == 2


def test_api_import_can_skip_invalid_lines(engineer, datanet_with):
    datanet = datanet_with(n=0)
    mixed = jsonl([*own_rows(2), {"prompt": "x", "responses": ["a"]}])
    url = f"/api/datanets/{datanet.slug}/import/"
    assert api_for(engineer).post(url + "?skip_invalid=maybe", {"file": mixed}, format="multipart").data == {
        "error": "invalid", "detail": "skip_invalid: must be true or false, got 'maybe'"}
    mixed.seek(0)
    done = api_for(engineer).post(url + "?skip_invalid=true", {"file": mixed}, format="multipart")
    assert done.status_code == 201 and done.data["prompts_created"] == 2
    assert [(p["line"], p["field"]) for p in done.data["skipped"]] == [(3, "responses")]


def test_download_exports_from_the_site(client, datanet_with, make_annotator, engineer):
    annotator = make_annotator("a")
    datanet = datanet_with(n=2, annotators=[annotator], overlap=1)
    judge(annotator, datanet)
    snapshot = services.snapshot_create(datanet=datanet)
    client.force_login(engineer)
    body = b"".join(client.get(reverse("snapshot_download", args=[snapshot.id, "trl"])).streaming_content)
    assert json.loads(body.splitlines()[0])["judgment_ids"]
    zipped = b"".join(client.get(reverse("snapshot_download", args=[snapshot.id, "hf"])).streaming_content)
    assert zipped[:2] == b"PK"
    client.force_login(annotator)
    assert client.get(reverse("snapshot_download", args=[snapshot.id, "trl"])).status_code == 403


def test_rest_api_end_to_end_with_token_auth(make_annotator, engineer):
    annotator = make_annotator("a")
    eng = api_for(engineer)
    created = eng.post("/api/datanets/", {"name": "Legal QA", "domain": "legal", "overlap": 1}, format="json")
    assert created.status_code == 201 and created.data["slug"] == "legal-qa"
    upload = eng.post(
        "/api/datanets/legal-qa/import/", {"file": jsonl(own_rows(2))}, format="multipart"
    )
    assert upload.status_code == 201 and upload.data == {"prompts_created": 2, "comparisons_created": 2, "skipped": []}
    assert eng.post("/api/datanets/legal-qa/members/", {"username": "a"}, format="json").status_code == 204

    ann = api_for(annotator)
    served = ann.get("/api/datanets/legal-qa/next/")
    assert served.status_code == 200 and served.data["left"].startswith("Answer")
    body = {"choice": "A", "strength": 2, "time_spent_ms": 900, "idempotency_key": "k1"}
    done = ann.post(f"/api/assignments/{served.data['id']}/judgment/", body, format="json")
    assert done.status_code == 201
    dup = ann.post(f"/api/assignments/{served.data['id']}/judgment/", body, format="json")
    assert dup.status_code == 409 and dup.data["error"] == "duplicate_submission"
    revised = ann.post(f"/api/judgments/{done.data['id']}/revisions/", {**body, "idempotency_key": "k2", "choice": "B"}, format="json")
    assert revised.status_code == 201 and revised.data["revision_of"] == done.data["id"]

    assert ann.post("/api/datanets/legal-qa/snapshots/").status_code == 403  # annotators cannot snapshot
    snap = eng.post("/api/datanets/legal-qa/snapshots/")
    assert snap.status_code == 201 and len(snap.data["content_hash"]) == 64
    export = eng.get(f"/api/snapshots/{snap.data['id']}/export/?kind=log")
    lines = b"".join(export.streaming_content).splitlines()
    assert len(lines) == 2  # the judgment and its revision


def test_api_errors_are_clear_and_change_nothing(make_annotator, engineer, datanet_with):
    a, b = make_annotator("a"), make_annotator("b")
    datanet = datanet_with(n=1, annotators=[a, b], overlap=1)
    held = api_for(a).get(f"/api/datanets/{datanet.slug}/next/")
    stolen = api_for(b).post(f"/api/assignments/{held.data['id']}/judgment/", {"choice": "A", "strength": 1, "time_spent_ms": 1}, format="json")
    assert stolen.status_code == 403 and stolen.data["error"] == "not_assigned"
    bad_import = api_for(engineer).post(
        f"/api/datanets/{datanet.slug}/import/", {"file": jsonl([{"prompt": "p", "responses": ["x"]}])}, format="multipart"
    )
    assert bad_import.status_code == 400 and bad_import.data["problems"][0]["line"] == 1
    assert bad_import.data["problems"][0]["field"] == "responses"
    assert Judgment.objects.count() == 0 and Prompt.objects.count() == 1 and Comparison.objects.count() == 1
    assert APIClient().get("/api/datanets/").status_code in (401, 403)


def test_api_tokens_carry_their_users_roles(make_annotator, engineer, governance, datanet_with):
    from feedback_site.accounts.authentication import TokenWithRolesAuthentication

    annotator = make_annotator("a")
    datanet = datanet_with(n=1, annotators=[annotator])
    assert api_for(annotator).get(f"/api/datanets/{datanet.slug}/next/").status_code == 200
    user, _ = TokenWithRolesAuthentication().authenticate_credentials(Token.objects.get(user=annotator).key)
    stored = type(annotator).objects.get(pk=annotator.pk)  # the same values, typed as the ORM types them
    assert [(f.attname, getattr(user, f.attname)) for f in stored._meta.concrete_fields] == [
        (f.attname, getattr(stored, f.attname)) for f in stored._meta.concrete_fields
    ]
    for other in (engineer, governance):  # the roles are read with the token: the wrong one is refused
        assert api_for(other).get(f"/api/datanets/{datanet.slug}/next/").status_code == 403
    assert api_for(annotator).post("/api/datanets/", {"name": "X"}, format="json").status_code == 403
    assert api_for(engineer).post("/api/datanets/", {"name": "X"}, format="json").status_code == 201
    assert api_for(annotator).get("/api/datanets/missing/next/").status_code == 404

    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert forged.get("/api/datanets/").status_code == 401
    client = api_for(annotator)
    annotator.is_active = False
    annotator.save(update_fields=["is_active"])
    assert client.get("/api/datanets/").status_code == 401


def test_judging_endpoints_refuse_bad_tokens_and_roles_and_change_nothing(make_annotator, engineer, datanet_with):
    """On PostgreSQL the judging endpoints check the token and role in the same query as the work (the judging
    functions, annotation/judging/sql); on SQLite REST framework checks them first. The answers must be the same
    on both."""
    from feedback_site.annotation.models import Assignment

    annotator, other = make_annotator("a"), make_annotator("b")
    admin = user_create(username="root", password="pw-root-123", roles=[Role.ADMIN])
    datanet = datanet_with(n=3, annotators=[annotator, other, admin, engineer], overlap=3)
    next_url = f"/api/datanets/{datanet.slug}/next/"
    held = api_for(annotator).get(next_url)
    assert held.status_code == 200
    submit_url = f"/api/assignments/{held.data['id']}/judgment/"
    body = {"choice": "A", "strength": 1, "time_spent_ms": 10}

    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    for answer in (forged.get(next_url), forged.post(submit_url, body, format="json")):
        assert answer.status_code == 401 and answer["WWW-Authenticate"] == "Token"
        assert answer.data["detail"] == "Invalid token."
    for answer in (api_for(engineer).get(next_url), api_for(engineer).post(submit_url, body, format="json")):
        assert answer.status_code == 403 and "annotator" in answer.data["detail"]
    quitter = api_for(other)
    other.is_active = False
    other.save(update_fields=["is_active"])
    assert quitter.get(next_url).status_code == 401

    # A bad token or role answers before a malformed body does, whichever check finds the body wrong:
    # REST framework's parser or serializer, or the service (a rationale over its limit).
    malformed = [
        dict(body, choice="C"), dict(body, strength=4), dict(body, time_spent_ms=-1),
        dict(body, rationale="x" * (services.MAX_RATIONALE_CHARS + 1)), "{not json",
    ]
    for bad_body in malformed:
        sent = {"data": bad_body, "content_type": "application/json"} if isinstance(bad_body, str) else {
            "data": bad_body, "format": "json"}
        for client, status_code in ((forged, 401), (quitter, 401), (api_for(engineer), 403), (api_for(annotator), 400)):
            answer = client.post(submit_url, **sent)
            assert answer.status_code == status_code, (bad_body, status_code, answer.data)
            if status_code == 401:
                assert answer["WWW-Authenticate"] == "Token"
    for client, status_code in ((forged, 401), (api_for(engineer), 403), (api_for(annotator), 415)):
        assert client.post(submit_url, body).status_code == status_code  # multipart: not a body this endpoint reads
    assert Assignment.objects.count() == 1 and Judgment.objects.count() == 0  # nothing written by a refusal

    assert api_for(admin).get(next_url).status_code == 200  # a superuser holds every role
    assert api_for(annotator).post(submit_url, body, format="json").status_code == 201
    assert api_for(annotator).get("/api/datanets/no-such-datanet/next/").status_code == 404
    assert Judgment.objects.get().annotator_id == annotator.pk


def test_openapi_schema_is_served(client, engineer):
    client.force_login(engineer)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/assignments/{assignment_id}/judgment/" in paths and "/api/datanets/{slug}/import/" in paths
