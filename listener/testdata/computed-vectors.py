#!/usr/bin/env python3
"""Computes listener/testdata/computed-vectors.json.

These are vectors for the providers that publish none (no worked example in
their documentation, no test vector in an official SDK): each is computed
here, with Python's hmac/hashlib and the `cryptography` package, from the
algorithm as the provider documents it (the URL in each vector's source).
Nothing here shares code with webhookd, so a vector that webhookd verifies
is an independent check of its reading of the documentation.

Run from the repository root:  python3 listener/testdata/computed-vectors.py
The output is deterministic (fixed keys, fixed times; Ed25519 signatures are
deterministic).
"""

import base64
import hashlib
import hmac
import json
import urllib.parse

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization

NOW = 1700000000  # 2023-11-14T22:13:20Z: every vector's receiver clock


def hm(key, msg, alg=hashlib.sha256):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(key, msg, alg).digest()


def hx(b):
    return b.hex()


def b64(b):
    return base64.b64encode(b).decode()


vectors = []


def vec(id, provider, source, secret, body, headers, valid, **kw):
    v = {
        "id": id,
        "provider": provider,
        "origin": "computed",
        "secret": secret,
        "body": body,
        "headers": headers,
        "now": kw.pop("now", NOW),
        "expected_valid": valid,
        "source": source + " (computed by listener/testdata/computed-vectors.py)",
    }
    for k, val in kw.items():
        v[k] = val
    vectors.append(v)


def derive(base_id, id, notes, **changes):
    base = next(v for v in vectors if v["id"] == base_id)
    v = json.loads(json.dumps(base))
    for k in ("event", "delivery", "answer"):
        v.pop(k, None)
    v.update(changes)
    v["id"] = id
    v["expected_valid"] = False
    v["derived_from"] = base_id
    v["notes"] = notes
    vectors.append(v)


# --- gitlab: the secret token as it is, or Standard Webhooks signing ------
SRC = "https://docs.gitlab.com/user/project/integrations/webhooks/ (secret token; signing token = Standard Webhooks, gitlab-org/gitlab!230944)"
body = '{"object_kind":"push","ref":"refs/heads/main","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}'
vec("gitlab-token", "gitlab", SRC, "gl-token-123", body,
    {"X-Gitlab-Token": "gl-token-123", "X-Gitlab-Event": "Push Hook",
     "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
     "Idempotency-Key": "f5c5b3b0-1f0a-4a55-9fa3-2f2e0e3a0d11"}, True,
    event="Push Hook", delivery="f5c5b3b0-1f0a-4a55-9fa3-2f2e0e3a0d11")
derive("gitlab-token", "gitlab-token-wrong", "token differs in its last character",
       headers={"X-Gitlab-Token": "gl-token-124", "X-Gitlab-Event": "Push Hook"})
sk = "whsec_" + b64(bytes(range(32)))
wid = "f5c5b3b0-1f0a-4a55-9fa3-2f2e0e3a0d11"
sig = b64(hm(base64.b64decode(sk[6:]), f"{wid}.{NOW}.{body}"))
vec("gitlab-signing-token", "gitlab", SRC, sk, body,
    {"webhook-id": wid, "webhook-timestamp": str(NOW), "webhook-signature": "v1," + sig,
     "Idempotency-Key": wid, "X-Gitlab-Event": "Push Hook"}, True,
    event="Push Hook", delivery=wid)
derive("gitlab-signing-token", "gitlab-signing-token-stale", "now = timestamp + 301 s", now=NOW + 301)
derive("gitlab-signing-token", "gitlab-signing-token-tampered", "body changed", body=body.replace("main", "evil"))

# --- gitea / forgejo: bare hex HMAC-SHA256 of the JSON payload -----------
SRC = "https://docs.gitea.com/usage/webhooks (X-Gitea-Signature); go-gitea/gitea services/webhook/deliver.go signs the payload, not the form"
body = '{"ref":"refs/heads/main","after":"bd0ebd4d3b5f1b9a8c3e8b0c0b8a7d6f5e4d3c2b"}'
vec("gitea-json", "gitea", SRC, "gitea-secret", body,
    {"X-Gitea-Signature": hx(hm("gitea-secret", body)), "X-Gitea-Event": "push",
     "X-Gitea-Delivery": "0f0e7bb5-7c2a-4a1b-9f9f-4c8d5b2e6a11", "Content-Type": "application/json"}, True,
    event="push", delivery="0f0e7bb5-7c2a-4a1b-9f9f-4c8d5b2e6a11")
form = urllib.parse.urlencode({"payload": body})
vec("gitea-form", "gitea", SRC, "gitea-secret", form,
    {"X-Gitea-Signature": hx(hm("gitea-secret", body)), "X-Gitea-Event": "push",
     "Content-Type": "application/x-www-form-urlencoded"}, True, event="push")
derive("gitea-form", "gitea-form-signed-over-form", "signature over the form body instead of the JSON payload",
       headers={"X-Gitea-Signature": hx(hm("gitea-secret", form)), "Content-Type": "application/x-www-form-urlencoded"})
vec("forgejo-json", "gitea", "https://forgejo.org/docs/latest/user/webhooks/ (X-Forgejo-Signature)", "gitea-secret", body,
    {"X-Forgejo-Signature": hx(hm("gitea-secret", body)), "X-Forgejo-Event": "push",
     "X-Forgejo-Delivery": "d1", "Content-Type": "application/json"}, True, event="push", delivery="d1")

# --- bitbucket: X-Hub-Signature sha256= ----------------------------------
SRC = "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/ (Secure webhooks)"
body = '{"push":{"changes":[{"new":{"name":"main"}}]}}'
vec("bitbucket-sha256", "bitbucket", SRC, "bb-secret", body,
    {"X-Hub-Signature": "sha256=" + hx(hm("bb-secret", body)), "X-Event-Key": "repo:push",
     "X-Request-UUID": "{5b3c5f7e-0000-4000-8000-000000000001}"}, True,
    event="repo:push", delivery="{5b3c5f7e-0000-4000-8000-000000000001}")
derive("bitbucket-sha256", "bitbucket-sha1", "HMAC-SHA1 with a sha1= prefix",
       headers={"X-Hub-Signature": "sha1=" + hx(hm("bb-secret", body, hashlib.sha1))})

# --- stripe: t=,v1= over "t.body", the whole whsec_ string as key --------
SRC = "https://docs.stripe.com/webhooks#verify-manually"
sec = "whsec_test_5NGbEe9WcKhjV2sH8xAqLr1p"
body = '{"id":"evt_1OJ6bC2eZvKYlo2C","object":"event","type":"payment_intent.succeeded"}'
v1 = hx(hm(sec, f"{NOW}.{body}"))
decoy = hx(hm("whsec_old", f"{NOW}.{body}"))
vec("stripe-two-v1", "stripe", SRC, sec, body,
    {"Stripe-Signature": f"t={NOW},v1={decoy},v1={v1},v0={hx(hm('x', body))}"}, True,
    event="payment_intent.succeeded", delivery="evt_1OJ6bC2eZvKYlo2C")
derive("stripe-two-v1", "stripe-stale", "now = t + 301 s", now=NOW + 301)
derive("stripe-two-v1", "stripe-future", "now = t - 301 s", now=NOW - 301)
derive("stripe-two-v1", "stripe-key-decoded", "signed with the base64-decoded secret, as Standard Webhooks would (wrong for Stripe)",
       headers={"Stripe-Signature": f"t={NOW},v1=" + hx(hm(base64.b64decode(sec[6:] + "=" * (-len(sec[6:]) % 4)), f"{NOW}.{body}"))})
derive("stripe-two-v1", "stripe-only-v0", "only a v0 signature (test mode's legacy scheme)",
       headers={"Stripe-Signature": f"t={NOW},v0={v1}"})

# --- shopify: base64 HMAC-SHA256 of the body ----------------------------
SRC = "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook"
body = '{"id":820982911946154508,"email":"jon@example.com"}'
vec("shopify-base64", "shopify", SRC, "shpss_secret", body,
    {"X-Shopify-Hmac-Sha256": b64(hm("shpss_secret", body)), "X-Shopify-Topic": "orders/create",
     "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}, True,
    event="orders/create", delivery="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
derive("shopify-base64", "shopify-hex", "the digest in hex instead of base64",
       headers={"X-Shopify-Hmac-Sha256": hx(hm("shpss_secret", body))})

# --- linear: hex HMAC of the body; webhookTimestamp (ms) within 60 s ----
SRC = "https://linear.app/developers/webhooks#securing-webhooks"
body = json.dumps({"action": "create", "type": "Issue", "data": {"id": "2174add1"}, "webhookTimestamp": NOW * 1000 - 2500}, separators=(",", ":"))
vec("linear-issue-create", "linear", SRC, "lin_wh_secret", body,
    {"Linear-Signature": hx(hm("lin_wh_secret", body)), "Linear-Delivery": "234d1a4e-b617-4388-90fe-adc3633d6b72",
     "Linear-Event": "Issue"}, True, event="Issue.create", delivery="234d1a4e-b617-4388-90fe-adc3633d6b72")
derive("linear-issue-create", "linear-stale", "now = webhookTimestamp + 61.5 s", now=NOW + 59)
derive("linear-issue-create", "linear-future", "now = webhookTimestamp - 61.5 s", now=NOW - 64)

# --- zoom: v0= over "v0:ts:body"; url_validation handshake --------------
SRC = "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events"
body = '{"event":"meeting.started","payload":{"object":{"id":"85746065432"}},"event_ts":1700000000000}'
vec("zoom-meeting-started", "zoom", SRC, "zoom-secret-token", body,
    {"x-zm-signature": "v0=" + hx(hm("zoom-secret-token", f"v0:{NOW}:{body}")), "x-zm-request-timestamp": str(NOW)}, True,
    event="meeting.started", delivery="")
derive("zoom-meeting-started", "zoom-stale", "now = ts + 301 s", now=NOW + 301)
body = '{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}'
vec("zoom-url-validation", "zoom", "https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint", "zoom-secret-token", body,
    {"x-zm-signature": "v0=" + hx(hm("zoom-secret-token", f"v0:{NOW}:{body}")), "x-zm-request-timestamp": str(NOW)}, True,
    answer={"status": 200, "json": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                                    "encryptedToken": hx(hm("zoom-secret-token", "qgg8vlvZRS6UYooatFL8Aw"))}})

# --- twitch: sha256= over id+timestamp+body; 10 min window --------------
SRC = "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message"
mid, ts = "e76c6bd4-55c9-4987-8304-da1588d8988b", "2023-11-14T22:13:10.634234626Z"
body = '{"subscription":{"type":"channel.follow"},"event":{"user_id":"1337"}}'
vec("twitch-notification", "twitch", SRC, "twitch-secret-0123", body,
    {"Twitch-Eventsub-Message-Id": mid, "Twitch-Eventsub-Message-Timestamp": ts,
     "Twitch-Eventsub-Message-Signature": "sha256=" + hx(hm("twitch-secret-0123", mid + ts + body)),
     "Twitch-Eventsub-Message-Type": "notification", "Twitch-Eventsub-Subscription-Type": "channel.follow"}, True,
    event="channel.follow", delivery=mid)
derive("twitch-notification", "twitch-stale", "now = timestamp + 10 min 9.4 s", now=NOW + 600)
derive("twitch-notification", "twitch-no-id-in-mac", "signature over timestamp+body only",
       headers={"Twitch-Eventsub-Message-Id": mid, "Twitch-Eventsub-Message-Timestamp": ts,
                "Twitch-Eventsub-Message-Signature": "sha256=" + hx(hm("twitch-secret-0123", ts + body))})
body = '{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}'
vec("twitch-callback-verification", "twitch", "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request", "twitch-secret-0123", body,
    {"Twitch-Eventsub-Message-Id": mid, "Twitch-Eventsub-Message-Timestamp": ts,
     "Twitch-Eventsub-Message-Signature": "sha256=" + hx(hm("twitch-secret-0123", mid + ts + body)),
     "Twitch-Eventsub-Message-Type": "webhook_callback_verification"}, True,
    answer={"status": 200, "content_type": "text/plain", "text": "pogchamp-kappa-360noscope-vohiyo"})

# --- discord: Ed25519 over timestamp+body with the public key -----------
SRC = "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers"
seed = bytes(range(32, 64))
priv = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
body = '{"id":"1185393932234227712","type":2,"token":"aW50ZXJhY3Rpb24","data":{"name":"deploy"},"version":1}'
vec("discord-command", "discord", SRC, None, body,
    {"X-Signature-Ed25519": priv.sign((str(NOW) + body).encode()).hex(), "X-Signature-Timestamp": str(NOW)}, True,
    public_key=pub, event="2", delivery="1185393932234227712")
derive("discord-command", "discord-tampered", "body changed", body=body.replace("deploy", "destroy"))
derive("discord-command", "discord-stale", "now = timestamp + 301 s", now=NOW + 301)
body = '{"id":"1185393932234227713","type":1,"token":"cGluZw","application_id":"11","version":1}'
vec("discord-ping", "discord", SRC, None, body,
    {"X-Signature-Ed25519": priv.sign((str(NOW) + body).encode()).hex(), "X-Signature-Timestamp": str(NOW)}, True,
    public_key=pub, answer={"status": 200, "json": {"type": 1}})

# --- telegram: the secret token as it is ---------------------------------
SRC = "https://core.telegram.org/bots/api#setwebhook (secret_token)"
body = '{"update_id":10000,"message":{"message_id":1,"text":"/deploy"}}'
vec("telegram-token", "telegram", SRC, "tg_Secret-Token_1", body,
    {"X-Telegram-Bot-Api-Secret-Token": "tg_Secret-Token_1"}, True, event="", delivery="10000")
derive("telegram-token", "telegram-wrong", "token differs", headers={"X-Telegram-Bot-Api-Secret-Token": "tg_Secret-Token_2"})

# --- basic: RFC 7617 -----------------------------------------------------
SRC = "https://www.rfc-editor.org/rfc/rfc7617 (HTTP Basic)"
vec("basic-ok", "basic", SRC, "s3cret:with:colons", "{}",
    {"Authorization": "Basic " + b64(b"hooks:s3cret:with:colons")}, True, params={"username": "hooks"})
derive("basic-ok", "basic-wrong-user", "username differs", headers={"Authorization": "Basic " + b64(b"Hooks:s3cret:with:colons")})
derive("basic-ok", "basic-wrong-password", "password differs", headers={"Authorization": "Basic " + b64(b"hooks:s3cret:with:colon")})

# --- hmac (generic) and token: webhookd's own schemes, by their parameters -
SRC = "webhookd README, provider hmac: header + prefix + HMAC(algorithm) of the body in encoding"
body = '{"kind":"build","status":"ok"}'
params = {"header": "X-Signature", "algorithm": "sha512", "encoding": "base64", "prefix": "sha512=",
          "event_header": "X-Event", "delivery_header": "X-Delivery"}
vec("hmac-sha512-base64", "hmac", SRC, "generic-secret", body,
    {"X-Signature": "sha512=" + b64(hm("generic-secret", body, hashlib.sha512)), "X-Event": "build", "X-Delivery": "b-1"}, True,
    params=params, event="build", delivery="b-1")
derive("hmac-sha512-base64", "hmac-sha256-instead", "HMAC-SHA256 where SHA-512 is configured",
       headers={"X-Signature": "sha512=" + b64(hm("generic-secret", body))})
params = {"header": "X-Signature", "algorithm": "sha1", "encoding": "hex"}
vec("hmac-sha1-hex", "hmac", SRC, "generic-secret", body,
    {"X-Signature": hx(hm("generic-secret", body, hashlib.sha1))}, True, params=params)
SRC = "webhookd README, provider token: the token in a header or in ?token="
vec("token-header", "token", SRC, "tok-abc", "{}", {"Authorization": "Bearer tok-abc"}, True, params={"header": "Authorization"})
derive("token-header", "token-header-wrong", "token differs", headers={"Authorization": "Bearer tok-abd"})
vec("token-query", "token", SRC, "tok-abc", "{}", {}, True, url="/hooks/x?token=tok-abc")
derive("token-query", "token-query-missing", "no token", url="/hooks/x")

out = {
    "about": "Vectors computed by listener/testdata/computed-vectors.py for providers that publish none, "
             "from each provider's documented algorithm, with Python's hmac and cryptography (no code shared with webhookd). "
             "'now' is the receiver's clock (unix seconds); 'answer' is a handshake's required answer; "
             "'event' and 'delivery', where present, are what webhookd must read from the delivery.",
    "vectors": vectors,
}
with open("listener/testdata/computed-vectors.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
