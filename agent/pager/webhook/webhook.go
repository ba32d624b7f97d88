package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

// Header names of a webhook request.
const (
	SignatureHeader = "X-Rackwatch-Signature"
	// KeyHeader carries "<page key>/<action>": the same on every retry and every replica, for a receiver
	// that deduplicates.
	KeyHeader = "X-Rackwatch-Key"
)

// Body is what is posted.
type Body struct {
	Action   string         `json:"action"`
	Key      string         `json:"key"`
	Episode  uint64         `json:"episode"`
	Alarm    contract.Alarm `json:"alarm"`
	StartsAt string         `json:"starts_at"`
	EndsAt   string         `json:"ends_at,omitempty"`
	// SentAt lets a receiver refuse a replayed request (an old body with a valid signature).
	SentAt string `json:"sent_at"`
}

// Receiver posts to one URL.
type Receiver struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// New returns a receiver posting to url, signing with secret.
func New(url string, secret []byte, timeout time.Duration) *Receiver {
	return &Receiver{url: url, secret: secret, client: &http.Client{Timeout: timeout}, now: time.Now}
}

// Send posts the notifications one at a time, in order, and stops at the first failure.
func (r *Receiver) Send(ctx context.Context, ns []notify.Notification) (int, error) {
	for i := range ns {
		n := &ns[i]
		b := Body{Action: n.Action, Key: n.Key, Episode: n.Episode, Alarm: n.Alarm,
			StartsAt: n.StartsAt.UTC().Format(contract.TimeFormat), SentAt: r.now().UTC().Format(contract.TimeFormat)}
		if !n.EndsAt.IsZero() {
			b.EndsAt = n.EndsAt.UTC().Format(contract.TimeFormat)
		}
		body, err := json.Marshal(b)
		if err != nil {
			return i, &notify.Error{Permanent: true, Err: err}
		}
		h := http.Header{}
		h.Set(SignatureHeader, Sign(r.secret, body))
		h.Set(KeyHeader, n.Key+"/"+n.Action)
		if _, err := notify.Post(ctx, r.client, r.url, body, h); err != nil {
			return i, err
		}
	}
	return len(ns), nil
}

// Sign is the signature header's value for body: "sha256=" and the hex HMAC-SHA256 under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid signature of body under secret, in constant time.
func Verify(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
