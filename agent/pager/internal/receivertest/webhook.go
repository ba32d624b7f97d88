package receivertest

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/rackwatch/rackwatch/agent/pager/webhook"
)

// Webhook is an endpoint that accepts only requests signed with its secret (401 otherwise) and keeps the
// bodies it accepted.
type Webhook struct {
	*server
	Secret []byte

	mu       sync.Mutex
	bodies   []webhook.Body
	unsigned int
}

// NewWebhook serves the fake on a loopback port.
func NewWebhook(t testing.TB, secret string) *Webhook {
	h := &Webhook{Secret: []byte(secret)}
	h.server = newServer(t, http.HandlerFunc(h.receive))
	return h
}

func (h *Webhook) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !webhook.Verify(h.Secret, body, r.Header.Get(webhook.SignatureHeader)) {
		h.mu.Lock()
		h.unsigned++
		h.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil || r.Header.Get(webhook.KeyHeader) != b.Key+"/"+b.Action {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Bodies are the requests accepted, in order.
func (h *Webhook) Bodies() []webhook.Body {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Body(nil), h.bodies...)
}

// Unsigned counts requests refused for their signature.
func (h *Webhook) Unsigned() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unsigned
}
