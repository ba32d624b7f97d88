package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/internal/receivertest"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
	"github.com/rackwatch/rackwatch/agent/pager/webhook"
)

func note(action string) notify.Notification {
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	a := contract.Alarm{Gateway: "gw1", Site: "dc1", Key: "smoke/room/smoke", Rule: "smoke", Severity: contract.Critical,
		State: contract.Active, Seq: 5, Episode: 5, Since: t0, Time: t0, Message: "smoke in room"}
	return notify.Notification{Action: action, Key: notify.PageKey("gw1", a.Key, 5), Episode: 5, Alarm: a, StartsAt: t0}
}

func TestSignedDelivery(t *testing.T) {
	const secret = "0123456789abcdef-shared"
	h := receivertest.NewWebhook(t, secret)
	r := webhook.New(h.URL(), []byte(secret), 5*time.Second)
	if n, err := r.Send(context.Background(), []notify.Notification{note(notify.Trigger), note(notify.Resolve)}); n != 2 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	b := h.Bodies()
	if len(b) != 2 || b[0].Action != "trigger" || b[0].Episode != 5 || b[0].Alarm.Key != "smoke/room/smoke" || b[0].Key != "gw1/smoke/room/smoke/5" ||
		b[0].StartsAt != "2026-11-25T03:00:00.000Z" || b[0].SentAt == "" || b[1].Action != "resolve" {
		t.Fatalf("bodies: %+v", b)
	}
	// The wrong secret is refused by the receiving side: a permanent error (retrying cannot fix it).
	bad := webhook.New(h.URL(), []byte("another secret of ours"), 5*time.Second)
	if _, err := bad.Send(context.Background(), []notify.Notification{note(notify.Trigger)}); !notify.IsPermanent(err) || h.Unsigned() != 1 {
		t.Fatalf("wrong secret: %v", err)
	}
	h.Script(receivertest.Reply{Status: 503})
	if _, err := r.Send(context.Background(), []notify.Notification{note(notify.Trigger)}); err == nil || notify.IsPermanent(err) {
		t.Fatalf("503: %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret-s3cret-s3cret"), []byte(`{"action":"trigger"}`)
	sig := webhook.Sign(secret, body)
	if !webhook.Verify(secret, body, sig) {
		t.Fatal("own signature refused")
	}
	for _, c := range []struct {
		body []byte
		sig  string
	}{
		{[]byte(`{"action":"resolve"}`), sig},
		{body, sig[:len(sig)-2] + "00"},
		{body, "sha1=" + sig[7:]},
		{body, ""},
		{body, "sha256=zz"},
	} {
		if webhook.Verify(secret, c.body, c.sig) {
			t.Errorf("accepted %q for %s", c.sig, c.body)
		}
	}
}

// FuzzVerify: the signature header comes from the network; Verify never panics and accepts only the one
// right signature.
func FuzzVerify(f *testing.F) {
	secret := []byte("s3cret-s3cret-s3cret")
	f.Add([]byte(`{}`), webhook.Sign(secret, []byte(`{}`)))
	f.Add([]byte(`{}`), "sha256=")
	f.Add([]byte(""), "sha256=00ff")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		if webhook.Verify(secret, body, header) && header != webhook.Sign(secret, body) {
			// hex decoding is case-insensitive: an upper-case copy of the right signature is the same MAC
			if len(header) != len(webhook.Sign(secret, body)) {
				t.Fatalf("accepted %q", header)
			}
		}
	})
}
