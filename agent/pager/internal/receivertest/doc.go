// Package receivertest serves the receivers' remote ends for tests, following their documented request
// and response shapes: PagerDuty's Events API v2 (202, 400 with errors, 429, and its alert
// de-duplication rules) and a webhook endpoint that checks the HMAC signature. Each can be taken down
// (its port closed) and brought back on the same address, and told to answer the next requests with a
// given status.
package receivertest
