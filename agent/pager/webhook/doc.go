// Package webhook posts every page change as JSON to a URL of the operator's choosing: the alarm object,
// its episode and the action (trigger, acknowledge, resolve). Each request is signed with HMAC-SHA256 of
// the body under a shared secret, in the X-Rackwatch-Signature header ("sha256=<hex>"), so the receiving
// side can tell a genuine page from a forged one; Verify is the check it should make. Requests are retried
// by the pager until the server answers 2xx; 4xx other than 408 and 429 are configuration errors.
package webhook
