// Package pagerduty sends pages to PagerDuty's Events API v2 (POST https://events.pagerduty.com/v2/enqueue):
// trigger when an alarm episode opens, acknowledge when it is acknowledged (or shelved) on the gateway,
// resolve when it clears. The dedup_key is made of the gateway, the alarm and the episode, so every pager
// replica addresses the same PagerDuty alert and a resolve always finds its trigger.
//
// PagerDuty answers 202 when it accepted an event, 400 for an event it will never accept (a wrong routing
// key: a configuration error), 429 when the integration is over its rate limit (about 120 events a minute)
// and 5xx when it is in trouble; the last two are retried by the pager with backoff.
package pagerduty
