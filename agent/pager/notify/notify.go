package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Actions: what a notification does to its page.
const (
	Trigger     = "trigger"
	Acknowledge = "acknowledge"
	Resolve     = "resolve"
)

// Notification is one change of one page. A page is one episode of one alarm of one gateway: Key is
// "<gateway>/<alarm>/<episode>", the same on every pager replica, so receivers deduplicate by it.
type Notification struct {
	Action  string `json:"action"`
	Key     string `json:"key"`
	Episode uint64 `json:"episode"`
	// Alarm is the latest alarm object of the episode (for a resolve: the clear, or the state that ended
	// it).
	Alarm contract.Alarm `json:"alarm"`
	// StartsAt is when the episode began; EndsAt when it ended (resolve only).
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Receivers are the names of the receivers the routes chose.
	Receivers []string `json:"receivers"`
	// Queued is when the pager journaled it; a notification that cannot be delivered for too long is
	// dropped (and counted).
	Queued time.Time `json:"queued"`
}

// PageKey is the key of a page: "<gateway>/<alarm>/<episode>".
func PageKey(gateway, alarm string, episode uint64) string {
	return gateway + "/" + alarm + "/" + strconv.FormatUint(episode, 10)
}

// For reports whether the notification goes to the named receiver.
func (n *Notification) For(receiver string) bool {
	for _, r := range n.Receivers {
		if r == receiver {
			return true
		}
	}
	return false
}

// Receiver delivers notifications to one place.
type Receiver interface {
	// Send delivers ns in order and returns how many were delivered. When n < len(ns), err says why ns[n]
	// failed; an *Error tells whether to retry it.
	Send(ctx context.Context, ns []Notification) (n int, err error)
}

// Error is a failed delivery.
type Error struct {
	// Permanent means retrying the same request cannot succeed (the receiver refused it: a bad routing
	// key, a malformed event). The pager logs it as a configuration error and moves on.
	Permanent bool
	// RetryAfter is the delay the server asked for (429 with Retry-After), or 0.
	RetryAfter time.Duration
	// Status is the HTTP status, or 0 when there was no response.
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a refusal that retrying cannot fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter is the delay the server asked for before the next attempt, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// maxResponse bounds what is read of a response body: only its start is ever shown in a log.
const maxResponse = 64 << 10

// Post sends body to url with the given headers and classifies the answer: 2xx is success; 429, 408 and
// 5xx are temporary (with Retry-After when the server sent one); any other status is permanent. A
// network error is temporary. The response body (at most 64 KiB) is returned for the caller's own checks.
func Post(ctx context.Context, c *http.Client, url string, body []byte, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Permanent: true, Err: err}
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, &Error{Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	e := &Error{Status: resp.StatusCode, Err: fmt.Errorf("%s: %s: %s", url, resp.Status, Snippet(b))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		e.Permanent = true
	}
	return b, e
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; it is capped at 10 minutes so that a
// wrong header cannot stall a receiver for a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 10*time.Minute)
}

// Snippet is the start of a response body, printable, for logs.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s), "?")
}
